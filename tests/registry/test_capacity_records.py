"""workshop.register, workshop.retire, machine, offer, offer.withdraw: shapes and who may sign.

Rules are exercised through protocol.replay.LogReplay (jobkit.Log), the
path every follower's sync takes, so "refused here" means "a log holding
it is invalid".
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from jobkit import Log, key, machine_body, offer_body, place, workshop_body

from protocol.errors import InvalidRecord, Unauthorised
from registry.capacity import Machine, Offer, WorkshopRegister
from registry.capacity_fields import Money, Place, haversine_m

NODE = key("node A")
OWNER = key("owner of w1")
OTHER = key("someone else")
MEMBER = key("member of A")


def registered() -> Log:
    log = Log(NODE)
    log.admit(MEMBER)
    log.add(NODE, "workshop.register", workshop_body("w1", [OWNER.did]))
    return log


def test_only_the_node_registers_a_workshop() -> None:
    log = Log(NODE)
    log.admit(MEMBER)
    for signer in (MEMBER, OWNER, OTHER):
        with pytest.raises(Unauthorised, match="only the node key"):
            log.add(signer, "workshop.register", workshop_body("w1", [OWNER.did]))
    log.add(NODE, "workshop.register", workshop_body("w1", [OWNER.did]))


def test_the_node_key_cannot_own_a_workshop() -> None:
    log = Log(NODE)
    with pytest.raises(Unauthorised, match="node key cannot own"):
        log.add(NODE, "workshop.register", workshop_body("w1", [NODE.did, OWNER.did]))


@pytest.mark.parametrize("signer", [NODE, MEMBER, OTHER], ids=["node", "member", "stranger"])
def test_only_an_owner_signs_machines_and_offers(signer: Any) -> None:
    log = registered()
    with pytest.raises(Unauthorised, match="not an owner key"):
        log.add(signer, "machine", machine_body("w1"))
    log.add(OWNER, "machine", machine_body("w1"))
    with pytest.raises(Unauthorised, match="not an owner key"):
        log.add(signer, "offer", offer_body("w1"))
    log.add(OWNER, "offer", offer_body("w1"))
    with pytest.raises(Unauthorised, match="not an owner key"):
        log.add(signer, "offer.withdraw", {"workshop": "w1", "offer": "fdm-service"})


def test_machines_and_offers_need_a_registered_workshop() -> None:
    log = registered()
    with pytest.raises(Unauthorised, match="no workshop 'w2'"):
        log.add(OWNER, "machine", machine_body("w2"))


def test_an_offer_needs_an_active_machine_that_does_what_it_offers() -> None:
    log = registered()
    with pytest.raises(Unauthorised, match="no active machine"):
        log.add(OWNER, "offer", offer_body("w1"))
    log.add(OWNER, "machine", machine_body("w1", materials=("pla",)))
    with pytest.raises(Unauthorised, match="does not do"):
        log.add(OWNER, "offer", offer_body("w1", processes=("sla",)))
    with pytest.raises(Unauthorised, match="does not take"):
        log.add(OWNER, "offer", offer_body("w1", materials=("petg",)))
    log.add(OWNER, "offer", offer_body("w1"))
    # Taking the machine out of service stops new offers on it.
    log.add(OWNER, "machine", machine_body("w1", active=False))
    with pytest.raises(Unauthorised, match="no active machine"):
        log.add(OWNER, "offer", offer_body("w1", offer="another"))


def test_withdrawal_is_a_new_record_and_happens_once() -> None:
    log = registered()
    log.add(OWNER, "machine", machine_body("w1"))
    log.add(OWNER, "offer", offer_body("w1"))
    log.add(
        OWNER, "offer.withdraw", {"workshop": "w1", "offer": "fdm-service"}, "2030-01-02T00:00:00Z"
    )
    with pytest.raises(Unauthorised, match="no open offer"):
        log.add(OWNER, "offer.withdraw", {"workshop": "w1", "offer": "fdm-service"})
    # Publishing the slug again re-opens it (a new version of the offer).
    log.add(OWNER, "offer", offer_body("w1", setup=700))
    log.add(OWNER, "offer.withdraw", {"workshop": "w1", "offer": "fdm-service", "reason": "full"})


def test_retired_workshops_take_no_new_machines_and_their_slug_is_not_reused() -> None:
    log = registered()
    with pytest.raises(Unauthorised, match="not an owner key"):
        log.add(OTHER, "workshop.retire", {"workshop": "w1"})
    log.add(OWNER, "workshop.retire", {"workshop": "w1", "reason": "moving"})
    with pytest.raises(Unauthorised, match="retired"):
        log.add(OWNER, "machine", machine_body("w1"))
    with pytest.raises(Unauthorised, match="no active workshop"):
        log.add(NODE, "workshop.retire", {"workshop": "w1"})
    with pytest.raises(Unauthorised, match="cannot be reused"):
        log.add(NODE, "workshop.register", workshop_body("w1", [OWNER.did]))


def test_re_registering_replaces_the_owners() -> None:
    log = registered()
    log.add(NODE, "workshop.register", workshop_body("w1", [OTHER.did]))
    with pytest.raises(Unauthorised, match="not an owner key"):
        log.add(OWNER, "machine", machine_body("w1"))
    log.add(OTHER, "machine", machine_body("w1"))


def test_a_refused_record_changes_nothing() -> None:
    log = registered()
    before = copy.deepcopy(log.replay.authority.to_dict())
    with pytest.raises(Unauthorised):
        log.add(OTHER, "machine", machine_body("w1"))
    assert log.replay.authority.to_dict() == before
    assert log.replay.size == 2


# -- shapes ------------------------------------------------------------------------------------


def _bad(body: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(body)
    target = out
    for part in path[:-1]:
        target = target[part]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return out


_DELETE = object()
_OWNERS = [OWNER.did]

WORKSHOP_CASES = [
    (("place", "lat"), "52.52", "body.place.lat"),
    (("place", "lat"), "90.000001", "body.place.lat"),
    (("place", "lon"), "-180.000001", "body.place.lon"),
    (("place", "lon"), "-0.000000", "body.place.lon"),
    (("place", "lat"), 52.52, "body.place.lat"),
    (("place", "country"), "de", "body.place.country"),
    (("place", "region"), 5, "body.place.region"),
    (("place", "extra"), "x", "body.place.extra"),
    (("owners",), [], "body.owners"),
    (("owners",), [OWNER.did, OWNER.did], "body.owners"),
    (("owners",), ["did:web:example.com"], "body.owners"),
    (("workshop",), "Has Caps", "body.workshop"),
    (("workshop",), "-dash", "body.workshop"),
    (("name",), "", "body.name"),
    (("colour",), "red", "body.colour"),
]


@pytest.mark.parametrize(
    ("path", "value", "field"),
    WORKSHOP_CASES,
    ids=[c[2] + "=" + repr(c[1])[:20] for c in WORKSHOP_CASES],
)
def test_bad_workshop_bodies_are_refused_naming_the_field(
    path: tuple[str, ...], value: Any, field: str
) -> None:
    body = _bad(workshop_body("w1", _OWNERS), path, value)
    with pytest.raises(InvalidRecord) as caught:
        WorkshopRegister.from_dict(body)
    assert caught.value.field == field


OFFER_CASES = [
    (("rate_cm3_per_hour",), "0.000", "body.rate_cm3_per_hour"),
    (("rate_cm3_per_hour",), "10.5", "body.rate_cm3_per_hour"),
    (("rate_cm3_per_hour",), "010.000", "body.rate_cm3_per_hour"),
    (("price", "setup"), -1, "body.price.setup"),
    (("price", "setup"), 1.5, "body.price.setup"),
    (("price", "currency"), "eur", "body.price.currency"),
    (("price", "per_hour"), _DELETE, "body.price.per_hour"),
    (("capacity_hours_per_week",), 0, "body.capacity_hours_per_week"),
    (("capacity_hours_per_week",), 169, "body.capacity_hours_per_week"),
    (("valid_until",), "2029-01-01T00:00:00Z", "body.valid_until"),
    (("valid_from",), "2030-01-01T00:00:00+01:00", "body.valid_from"),
    (("serves",), {}, "body.serves"),
    (("serves",), {"countries": ["de"]}, "body.serves.countries"),
    (("serves",), {"radius_km": 0}, "body.serves.radius_km"),
    (("serves",), {"regions": [{"country": "DE"}]}, "body.serves.regions"),
    (("materials",), [], "body.materials"),
    (("processes",), ["fdm", "fdm"], "body.processes"),
]


@pytest.mark.parametrize(
    ("path", "value", "field"), OFFER_CASES, ids=[c[2] + "=" + repr(c[1])[:20] for c in OFFER_CASES]
)
def test_bad_offer_bodies_are_refused_naming_the_field(
    path: tuple[str, ...], value: Any, field: str
) -> None:
    body = _bad(offer_body("w1"), path, value)
    with pytest.raises(InvalidRecord) as caught:
        Offer.from_dict(body)
    assert caught.value.field == field


def test_bodies_round_trip_exactly() -> None:
    bodies = [
        (WorkshopRegister, {**workshop_body("w1", _OWNERS), "url": "https://w1.example"}),
        (Machine, machine_body("w1", active=False)),
        (
            Offer,
            offer_body(
                "w1",
                serves={
                    "countries": ["DE", "AT"],
                    "regions": [{"country": "CH", "region": "Zürich"}],
                    "radius_km": 300,
                },
            ),
        ),
    ]
    for cls, body in bodies:
        assert cls.from_dict(body).to_dict() == body


def test_machine_build_volume_is_kept_exactly_and_sorted_for_fitting() -> None:
    machine = Machine.from_dict(machine_body("w1", volume=("180.500", "250.000", "0.250")))
    assert machine.build_volume_mm == ("180.500", "250.000", "0.250")
    assert machine.volume_sorted == (250_000, 180_500, 250)


def test_place_and_money() -> None:
    p = Place.from_dict(place("-33.868820", "151.209290", "AU", "NSW"))
    assert (p.lat_e6, p.lon_e6) == (-33_868_820, 151_209_290)
    with pytest.raises(InvalidRecord, match="ISO 4217"):
        Money.from_dict({"amount": 1, "currency": "euro"})
    with pytest.raises(InvalidRecord, match="minor units"):
        Money.from_dict({"amount": 2**53, "currency": "EUR"})
    with pytest.raises(InvalidRecord, match="minor units"):
        Money.from_dict({"amount": True, "currency": "EUR"})


def test_haversine_hand_computed() -> None:
    # On a sphere of radius R, one degree of arc is R·π/180:
    # 6 371 008.8 m × 0.017453292519943295 = 111 195.0797... m -> 111 195 m.
    equator = Place(lat="0.000000", lon="0.000000", country="GH", region="")
    one_east = Place(lat="0.000000", lon="1.000000", country="GH", region="")
    one_north = Place(lat="1.000000", lon="0.000000", country="GH", region="")
    assert haversine_m(equator, one_east) == 111_195
    assert haversine_m(equator, one_north) == 111_195
    # Pole to pole is half the circumference: π × 6 371 008.8 = 20 015 114.35... m.
    north = Place(lat="90.000000", lon="0.000000", country="NO", region="")
    south = Place(lat="-90.000000", lon="45.000000", country="AQ", region="")
    assert haversine_m(north, south) == 20_015_114
    # Antipodes on the equator, the same distance.
    antipode = Place(lat="0.000000", lon="180.000000", country="KI", region="")
    assert haversine_m(equator, antipode) == 20_015_114
    assert haversine_m(one_east, one_east) == 0
