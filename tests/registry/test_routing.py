"""Routing, case by case: hand-computed prices, hours, completion times, distances and scores,
and one exclusion reason per feasibility rule (specs/05-capacity-and-jobs.md §8)."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pytest
from jobkit import T0, key, machine_body, offer_body, place, request_body, workshop_body

from registry.capacity import Machine, Offer, WorkshopRegister
from registry.jobs import JobRequest
from registry.routing import (
    Candidate,
    PartFigures,
    TrackRecord,
    estimate_hours_milli,
    estimate_price,
    fits,
    route,
)

LOG = key("node C").did
BERLIN = place()  # 52.520008, 13.404954
POTSDAM = place("52.390569", "13.064473", "DE", "Brandenburg")
PART = PartFigures(
    volume_mm3="12345.678",
    aabb_mm=("50.000", "40.000", "30.000"),
    obb_mm=("48.000", "40.000", "28.000"),
)


def candidate(
    *,
    offer: dict[str, Any] | None = None,
    machine: dict[str, Any] | None = None,
    where: dict[str, str] | None = None,
    slug: str = "c1",
    **kw: Any,
) -> Candidate:
    w = WorkshopRegister.from_dict(workshop_body(slug, [key("owner").did], where=where))
    m = Machine.from_dict(machine if machine is not None else machine_body(slug))
    o = Offer.from_dict(offer if offer is not None else offer_body(slug))
    return Candidate(
        log=kw.pop("log", LOG),
        offer_id=kw.pop("offer_id", "sha256:" + "a" * 64),
        offer=o,
        workshop=w,
        machine=m,
        **kw,
    )


def request(**kw: Any) -> JobRequest:
    return JobRequest.from_dict(request_body(**kw))


def one(c: Candidate, req: JobRequest | None = None, part: PartFigures = PART, **kw: Any) -> Any:
    result = route(req or request(quantity=3), part, [c], now=T0, **kw)
    assert len(result.ranking) + len(result.excluded) == 1
    return result


def test_price_hours_completion_and_score_hand_computed() -> None:
    # 12 345.678 mm³ = 12.345678 cm³, three parts: 37.037034 cm³.
    # material 20 × 37.037034 = 740.74068; hours 37.037034 / 10 = 3.7037034 h, × 300 = 1111.11102;
    # variable 1851.8517 -> 1852 (half-even); with setup 500: 2352 minor units.
    result = one(candidate())
    ranked = result.ranking[0]
    assert ranked.price.to_dict() == {"amount": 2352, "currency": "EUR"}
    assert ranked.hours_milli == 3704  # 3.7037034 h
    # Production: ceil(3.7037034 h × 604800 s / 40 h) = ceil(55 999.995408) = 56 000 s, after
    # 2 days' lead time: 2030-01-06T12:00Z + 2 d + 15 h 33 min 20 s.
    assert ranked.completion == "2030-01-09T03:33:20Z"
    assert ranked.estimate() == {
        "price": {"amount": 2352, "currency": "EUR"},
        "hours": "3.704",
        "distance_m": 0,
        "completion": "2030-01-09T03:33:20Z",
    }
    # Points: price 2352·1000 // 100000 = 23; time 228 800 s · 1000 // 2 203 200 s = 103;
    # distance 0 km; reliability (0+1)·1000 // 2 = 500. Score 4·23 + 2·103 + 0 + 2·500 = 1298.
    assert ranked.points == {"price": 23, "time": 103, "distance": 0, "reliability": 500}
    assert ranked.score == 1298
    assert ranked.rank == 1


def test_committed_hours_push_completion_out() -> None:
    # (10 + 3.7037034) h × 15 120 s/h = 207 199.995408 -> 207 200 s = 2 d 9 h 33 min 20 s.
    c = candidate(track=TrackRecord(completed=8, failed=0, committed_milli_hours=10_000))
    ranked = one(c).ranking[0]
    assert ranked.completion == "2030-01-10T21:33:20Z"
    assert ranked.points["reliability"] == 1000 // 10  # (0+1)·1000 // (8+0+2)


@pytest.mark.parametrize(
    ("volume", "quantity", "expected"),
    [
        ("500.000", 1, 0),
        ("500.000", 3, 2),
        ("2500.000", 1, 2),
        ("3500.000", 1, 4),
        ("1000.001", 1, 1),
    ],
    ids=["0.5->0", "1.5->2", "2.5->2", "3.5->4", "1.000001->1"],
)
def test_price_rounds_half_to_even(volume: str, quantity: int, expected: int) -> None:
    offer = Offer.from_dict(offer_body("c1", setup=0, per_cm3=1, per_hour=0))
    part = PartFigures(volume_mm3=volume, aabb_mm=("1.000",) * 3, obb_mm=("1.000",) * 3)  # type: ignore[arg-type]
    assert estimate_price(offer, part.volume_milli, quantity) == expected


def test_hours_round_half_to_even() -> None:
    # 5 mm³ at 10 cm³/h: 0.0005 h -> 0.000 (half to even), 15 mm³: 0.0015 -> 0.002.
    assert estimate_hours_milli(5_000, 1, 10_000) == 0
    assert estimate_hours_milli(15_000, 1, 10_000) == 2
    assert estimate_hours_milli(25_000, 1, 10_000) == 2


def _sphere_distance_m(a: dict[str, str], b: dict[str, str]) -> float:
    """Spherical law of cosines, written independently of the haversine in registry/."""
    p1, p2 = math.radians(float(a["lat"])), math.radians(float(b["lat"]))
    dl = math.radians(float(b["lon"]) - float(a["lon"]))
    c = math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl)
    return 6_371_008.8 * math.acos(min(1.0, c))


def test_distance_and_radius() -> None:
    independent = _sphere_distance_m(POTSDAM, BERLIN)
    assert 27_000 < independent < 28_000  # Potsdam to Berlin Mitte is about 27.2 km
    radius_27km = offer_body("c1", serves={"radius_km": 27})
    radius_28km = offer_body("c1", serves={"radius_km": 28})
    req = request(deliver_to=BERLIN)
    far = one(candidate(offer=radius_27km, where=POTSDAM), req)
    assert [r.code for r in far.excluded[0].reasons] == ["region"]
    near = one(candidate(offer=radius_28km, where=POTSDAM), req)
    assert abs(near.ranking[0].distance_m - independent) <= 1
    assert near.ranking[0].points["distance"] == near.ranking[0].distance_m // 1000 == 27


def test_regions_match_country_and_region_case_insensitively() -> None:
    by_region = offer_body("c1", serves={"regions": [{"country": "DE", "region": "berlin"}]})
    assert one(candidate(offer=by_region)).ranking
    other_region = offer_body("c1", serves={"regions": [{"country": "DE", "region": "Hessen"}]})
    assert one(candidate(offer=other_region)).excluded[0].reasons[0].code == "region"
    other_country = offer_body("c1", serves={"regions": [{"country": "AT", "region": "Berlin"}]})
    assert one(candidate(offer=other_country)).excluded[0].reasons[0].code == "region"


def test_fit_by_axis_permutation_reports_the_mapping() -> None:
    # Build volume x=50, y=300, z=20; the part 250 × 10 × 45 lies with x along y, z along x.
    assert fits((250_000, 10_000, 45_000), (50_000, 300_000, 20_000)) == {
        "x": "y",
        "z": "x",
        "y": "z",
    }
    assert fits((250_000, 10_000, 45_000), (50_000, 240_000, 20_000)) is None
    assert fits((50_000, 50_000, 50_000), (50_000, 50_000, 50_000)) is not None  # touching fits


def test_a_part_that_fits_only_along_its_oriented_box() -> None:
    # A plank lying diagonally: AABB 200 × 200 × 10, OBB 280 × 20 × 10; bed 300 × 100 × 50.
    plank = PartFigures(
        volume_mm3="56000.000",
        aabb_mm=("200.000", "200.000", "10.000"),
        obb_mm=("280.000", "20.000", "10.000"),
    )
    bed = machine_body("c1", volume=("300.000", "100.000", "50.000"))
    ranked = one(candidate(machine=bed), part=plank).ranking[0]
    assert ranked.fit["box"] == "obb"
    assert ranked.fit["axes"] == {"x": "x", "y": "y", "z": "z"}
    small_bed = machine_body("c1", volume=("270.000", "100.000", "50.000"))
    excluded = one(candidate(machine=small_bed), part=plank).excluded[0]
    assert [r.code for r in excluded.reasons] == ["size"]
    assert "270.000 × 100.000 × 50.000" in excluded.reasons[0].detail


CASES: list[tuple[str, dict[str, Any], str]] = [
    ("process", {"req": {"process": "sla"}}, "process"),
    ("material", {"req": {"material": "abs"}}, "material"),
    ("not yet valid", {"offer": {"valid_from": "2030-01-07T00:00:00Z"}}, "not_yet_valid"),
    ("expired", {"offer": {"valid_until": "2030-01-06T12:00:00Z"}}, "expired"),
    ("region", {"offer": {"serves": {"countries": ["FR"]}}}, "region"),
    ("currency", {"offer": {"currency": "USD"}}, "currency"),
    ("budget", {"req": {"budget": 2351}}, "budget"),
    ("deadline", {"offer": {"capacity_hours_per_week": 1}}, "deadline"),
    ("lead time", {"offer": {"lead_time_days": 30}}, "deadline"),
    ("size", {"machine": {"volume": ("40.000", "40.000", "45.000")}}, "size"),
    ("machine inactive", {"machine": {"active": False}}, "machine"),
    ("retired", {"cand": {"retired": True}}, "retired"),
    ("unreachable", {"cand": {"reachable": False}}, "unreachable"),
]


@pytest.mark.parametrize(("name", "change", "code"), CASES, ids=[c[0] for c in CASES])
def test_each_rule_excludes_with_its_reason(name: str, change: dict[str, Any], code: str) -> None:
    req = request(quantity=3, **change.get("req", {}))
    c = candidate(
        offer=offer_body("c1", **change.get("offer", {})),
        machine=machine_body("c1", **change.get("machine", {})),
        **change.get("cand", {}),
    )
    result = one(c, req)
    assert not result.ranking
    assert [r.code for r in result.excluded[0].reasons] == [code]
    assert result.excluded[0].to_dict()["reasons"][0]["detail"]


def test_boundaries_are_inclusive_where_the_spec_says() -> None:
    assert one(candidate(), request(quantity=3, budget=2352)).ranking  # price == budget
    # Completion 2030-01-09T03:33:20Z exactly at the deadline is in time; a microsecond less is not.
    assert one(candidate(), request(quantity=3, deadline="2030-01-09T03:33:20Z")).ranking
    late = one(candidate(), request(quantity=3, deadline="2030-01-09T03:33:19.999999Z"))
    assert [r.code for r in late.excluded[0].reasons] == ["deadline"]
    valid_from_now = offer_body("c1", valid_from="2030-01-06T12:00:00Z")
    assert one(candidate(offer=valid_from_now)).ranking


def test_missing_machine_and_already_offered_and_every_reason_listed() -> None:
    c = candidate(offer=offer_body("c1", currency="USD"))._replace(machine=None)
    result = one(c, request(process="sla"), exclude={(LOG, "c1")})
    assert [r.code for r in result.excluded[0].reasons] == [
        "already_offered",
        "machine",
        "process",
        "currency",
    ]


def test_ranking_order_and_tie_break() -> None:
    cheap = candidate(offer=offer_body("c1", setup=0), slug="c1", offer_id="sha256:" + "c" * 64)
    dear = candidate(offer=offer_body("c2", setup=5000), slug="c2", offer_id="sha256:" + "b" * 64)
    twin_a = candidate(offer=offer_body("c3"), slug="c3", offer_id="sha256:" + "e" * 64)
    twin_b = twin_a._replace(offer_id="sha256:" + "d" * 64)
    result = route(request(quantity=3), PART, [dear, twin_a, cheap, twin_b], now=T0)
    order = [(r.candidate.offer.workshop, r.candidate.offer_id[-1]) for r in result.ranking]
    # cheap < twins (same score, price, distance, completion, workshop; by offer id) < dear
    assert order == [("c1", "c"), ("c3", "d"), ("c3", "e"), ("c2", "b")]
    assert [r.rank for r in result.ranking] == [1, 2, 3, 4]


def test_the_clock_is_a_parameter() -> None:
    c = candidate()
    early = route(request(quantity=3), PART, [c], now=T0).ranking[0]
    later = route(request(quantity=3), PART, [c], now=T0 + timedelta(days=1)).ranking[0]
    assert later.completion_us - early.completion_us == 86_400 * 1_000_000
