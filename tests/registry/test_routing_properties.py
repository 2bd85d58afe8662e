"""Routing properties (hypothesis): never an infeasible offer ranked; rank and reasons do not
depend on input order; adding an offer never removes a feasible one; every offer is judged.

Feasibility is re-decided here by an independent oracle: axis permutations
tried one by one with itertools, prices and times in fractions.Fraction,
Python's round() (half to even) and math.ceil. Only the distance uses
registry's haversine_m, whose values tests/registry/test_capacity_records.py
checks against hand-computed ones.
"""

from __future__ import annotations

import itertools
import math
from datetime import timedelta
from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jobkit import T0, key, machine_body, offer_body, request_body, workshop_body

from protocol.records import parse_time
from registry.capacity import Machine, Offer, WorkshopRegister
from registry.capacity_fields import haversine_m
from registry.jobs import JobRequest
from registry.routing import Candidate, PartFigures, TrackRecord, route

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PROCESSES = ("fdm", "sla", "cnc")
MATERIALS = ("pla", "petg", "abs", "resin")
COUNTRIES = ("DE", "FR", "NL")
LOGS = [key(f"log {i}").did for i in range(4)]
OWNER = key("owner").did


def dec3(thousandths: int) -> str:
    return f"{thousandths // 1000}.{thousandths % 1000:03d}"


def coord(micro: int) -> str:
    if micro == 0:
        return "0.000000"
    sign = "-" if micro < 0 else ""
    return f"{sign}{abs(micro) // 1_000_000}.{abs(micro) % 1_000_000:06d}"


lengths = st.integers(min_value=1, max_value=400_000)
places = st.builds(
    lambda lat, lon, country: {
        "lat": coord(lat),
        "lon": coord(lon),
        "country": country,
        "region": "R",
    },
    st.integers(min_value=47_000_000, max_value=54_000_000),
    st.integers(min_value=2_000_000, max_value=15_000_000),
    st.sampled_from(COUNTRIES),
)


@st.composite
def candidates(draw: Any, index: int) -> Candidate:
    slug = f"w{index}"
    processes = tuple(draw(st.sets(st.sampled_from(PROCESSES), min_size=1)))
    materials = tuple(draw(st.sets(st.sampled_from(MATERIALS), min_size=1)))
    machine = machine_body(
        slug,
        volume=tuple(dec3(draw(lengths)) for _ in range(3)),
        processes=processes,
        materials=materials,
        active=draw(st.booleans() | st.just(True)),
    )
    serves: dict[str, Any] = {}
    if draw(st.booleans()):
        serves["countries"] = sorted(draw(st.sets(st.sampled_from(COUNTRIES), min_size=1)))
    if draw(st.booleans()) or not serves:
        serves["radius_km"] = draw(st.integers(min_value=1, max_value=1500))
    start = draw(st.integers(min_value=-40, max_value=5))
    offer = offer_body(
        slug,
        machine="printer",
        processes=processes,
        materials=materials,
        currency=draw(st.sampled_from(("EUR", "EUR", "EUR", "GBP"))),
        setup=draw(st.integers(min_value=0, max_value=5000)),
        per_cm3=draw(st.integers(min_value=0, max_value=500)),
        per_hour=draw(st.integers(min_value=0, max_value=5000)),
        rate=dec3(draw(st.integers(min_value=1, max_value=200_000))),
        lead_time_days=draw(st.integers(min_value=0, max_value=40)),
        capacity_hours_per_week=draw(st.integers(min_value=1, max_value=168)),
        valid_from=(T0 + timedelta(days=start)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        valid_until=(T0 + timedelta(days=start + draw(st.integers(1, 60)))).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        ),
        serves=serves,
    )
    return Candidate(
        log=draw(st.sampled_from(LOGS)),
        offer_id="sha256:" + f"{index:064x}",
        offer=Offer.from_dict(offer),
        workshop=WorkshopRegister.from_dict(workshop_body(slug, [OWNER], where=draw(places))),
        machine=Machine.from_dict(machine) if draw(st.integers(0, 9)) else None,
        retired=draw(st.integers(0, 9)) == 0,
        track=TrackRecord(
            completed=draw(st.integers(0, 50)),
            failed=draw(st.integers(0, 50)),
            committed_milli_hours=draw(st.integers(0, 200_000)),
        ),
        reachable=draw(st.integers(0, 9)) != 0,
    )


@st.composite
def worlds(draw: Any) -> tuple[JobRequest, PartFigures, list[Candidate]]:
    n = draw(st.integers(min_value=0, max_value=10))
    cands = [draw(candidates(i)) for i in range(n)]
    request = JobRequest.from_dict(
        request_body(
            process=draw(st.sampled_from(PROCESSES)),
            material=draw(st.sampled_from(MATERIALS)),
            quantity=draw(st.integers(min_value=1, max_value=20)),
            deliver_to=draw(places),
            budget=draw(st.integers(min_value=0, max_value=2_000_000)),
            deadline=(T0 + timedelta(seconds=draw(st.integers(1, 90 * 86_400)))).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
        )
    )
    aabb = [draw(lengths) for _ in range(3)]
    obb = sorted((max(1, a - draw(st.integers(0, a))) for a in aabb), reverse=True)
    part = PartFigures(
        volume_mm3=dec3(draw(st.integers(min_value=1, max_value=5_000_000_000))),
        aabb_mm=tuple(dec3(a) for a in aabb),  # type: ignore[arg-type]
        obb_mm=tuple(dec3(o) for o in obb),  # type: ignore[arg-type]
    )
    return request, part, cands


def _fits(part: list[Fraction], volume: list[Fraction]) -> bool:
    return any(
        all(p <= v for p, v in zip(perm, volume, strict=True))
        for perm in itertools.permutations(part)
    )


def oracle_feasible(request: JobRequest, part: PartFigures, c: Candidate) -> bool:
    """Feasibility decided independently of registry/routing.py."""
    offer, m = c.offer, c.machine
    if c.retired or not c.reachable or m is None or not m.active:
        return False
    volume = [Fraction(v) for v in m.build_volume_mm]
    if not (
        _fits([Fraction(v) for v in part.aabb_mm], volume)
        or _fits([Fraction(v) for v in part.obb_mm], volume)
    ):
        return False
    if request.process not in offer.processes or request.material not in offer.materials:
        return False
    now = T0
    if not parse_time(offer.valid_from) <= now < parse_time(offer.valid_until):
        return False
    d = haversine_m(c.workshop.place, request.deliver_to)
    to = request.deliver_to
    served = to.country in offer.serves.countries or (
        offer.serves.radius_km is not None and d <= offer.serves.radius_km * 1000
    )
    if not served:
        return False
    cm3 = Fraction(part.volume_mm3) / 1000 * request.quantity
    rate = Fraction(offer.rate_cm3_per_hour)
    hours = cm3 / rate
    price = offer.price.setup + round(offer.price.per_cm3 * cm3 + offer.price.per_hour * hours)
    if offer.price.currency != request.budget.currency or price > request.budget.amount:
        return False
    total = Fraction(c.track.committed_milli_hours, 1000) + hours
    seconds = math.ceil(total * 7 * 86_400 / offer.capacity_hours_per_week)
    done = now + timedelta(days=offer.lead_time_days, seconds=seconds)
    return done <= parse_time(request.deadline)


@SETTINGS
@given(worlds())
def test_never_ranks_an_infeasible_offer_and_judges_every_offer(world: Any) -> None:
    request, part, cands = world
    result = route(request, part, cands, now=T0)
    ranked = {r.candidate.offer_id for r in result.ranking}
    excluded = {e.candidate.offer_id for e in result.excluded}
    assert ranked.isdisjoint(excluded)
    assert ranked | excluded == {c.offer_id for c in cands}
    for c in cands:
        assert (c.offer_id in ranked) == oracle_feasible(request, part, c), c
    for e in result.excluded:
        assert e.reasons, "an excluded offer has a reason"
    assert [r.rank for r in result.ranking] == list(range(1, len(result.ranking) + 1))
    scores = [(r.score, r.price.amount) for r in result.ranking]
    assert scores == sorted(scores)


@SETTINGS
@given(worlds(), st.randoms(use_true_random=False))
def test_ranking_does_not_depend_on_input_order(world: Any, rng: Any) -> None:
    request, part, cands = world
    expected = route(request, part, cands, now=T0).to_dict()
    shuffled = list(cands)
    rng.shuffle(shuffled)
    assert route(request, part, shuffled, now=T0).to_dict() == expected
    assert route(request, part, list(reversed(cands)), now=T0).to_dict() == expected


@SETTINGS
@given(worlds(), candidates(999))
def test_adding_an_offer_never_removes_a_feasible_one(world: Any, extra: Candidate) -> None:
    request, part, cands = world
    before = {r.candidate.offer_id for r in route(request, part, cands, now=T0).ranking}
    after_result = route(request, part, [*cands, extra], now=T0)
    after = {r.candidate.offer_id for r in after_result.ranking}
    assert before <= after
    # and the relative order of the offers that were there stays the same
    order = [r.candidate.offer_id for r in after_result.ranking if r.candidate.offer_id in before]
    assert order == [r.candidate.offer_id for r in route(request, part, cands, now=T0).ranking]
