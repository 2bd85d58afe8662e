"""Workshops, machines and capacity offers: `workshop.*`, `machine`, `offer`, `offer.withdraw`.

specs/05-capacity-and-jobs.md §3 gives their bodies and §4 who may sign
them: the node registers and retires workshops; only a registered owner key
of a workshop signs its machines and offers (and, in registry/jobs.py, its
answers to jobs). The rules keep, in `LogAuthority.extensions["capacity"]`,
each workshop's owners and each machine's processes and materials, and the
open offers. Routing lives in registry/routing.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from protocol.authority import LogAuthority, register_rule
from protocol.did import Did
from protocol.errors import InvalidRecord, Unauthorised
from protocol.fields import check_keys, did_field, int_field, optional_str, str_field
from protocol.records import Record, parse_time, register_record_type
from registry.capacity_fields import (
    Money,
    Place,
    decimal3_field,
    epoch_us,
    milli,
    slug_field,
    slug_list,
    time_field,
)

__all__ = [
    "EXTENSION",
    "Machine",
    "Offer",
    "OfferWithdraw",
    "Price",
    "Serves",
    "WorkshopRegister",
    "WorkshopRetire",
    "capacity_state",
    "require_owner",
]

EXTENSION = "capacity"
MAX_OWNERS = 16
MAX_PROCESSES = 32
MAX_MATERIALS = 64
MAX_REGIONS = 64


@register_record_type
@dataclass(frozen=True, slots=True, kw_only=True)
class WorkshopRegister:
    """workshop.register: the node registers (or updates) a workshop and its owner keys."""

    TYPE: ClassVar[str] = "workshop.register"
    workshop: str
    name: str
    place: Place
    owners: tuple[Did, ...]
    description: str | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= len(self.owners) <= MAX_OWNERS or len(set(self.owners)) != len(self.owners):
            raise InvalidRecord("body.owners", f"must be 1 to {MAX_OWNERS} distinct dids")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        check_keys(data, ("workshop", "name", "place", "owners"), ("description", "url"))
        owners = data.get("owners")
        if not isinstance(owners, list) or not 1 <= len(owners) <= MAX_OWNERS:
            raise InvalidRecord("body.owners", f"must be a list of 1 to {MAX_OWNERS} dids")
        return cls(
            workshop=slug_field(data, "workshop"),
            name=str_field(data, "name", max_len=200),
            place=Place.from_dict(data.get("place")),
            owners=tuple(did_field({"owners": o}, "owners") for o in owners),
            description=optional_str(data, "description", max_len=4000),
            url=optional_str(data, "url", max_len=2000),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "workshop": self.workshop,
            "name": self.name,
            "place": self.place.to_dict(),
            "owners": list(self.owners),
        }
        if self.description is not None:
            out["description"] = self.description
        if self.url is not None:
            out["url"] = self.url
        return out


@register_record_type
@dataclass(frozen=True, slots=True, kw_only=True)
class WorkshopRetire:
    """workshop.retire: the workshop stops taking work (final for its slug)."""

    TYPE: ClassVar[str] = "workshop.retire"
    workshop: str
    reason: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        check_keys(data, ("workshop",), ("reason",))
        return cls(
            workshop=slug_field(data, "workshop"),
            reason=optional_str(data, "reason", max_len=2000),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"workshop": self.workshop}
        if self.reason is not None:
            out["reason"] = self.reason
        return out


def _build_volume(data: Mapping[str, Any]) -> tuple[str, str, str]:
    value = data.get("build_volume_mm")
    if not isinstance(value, Mapping):
        raise InvalidRecord("body.build_volume_mm", "must be an object {x, y, z}")
    check_keys(value, ("x", "y", "z"))
    return (
        decimal3_field(value, "x", path="body.build_volume_mm"),
        decimal3_field(value, "y", path="body.build_volume_mm"),
        decimal3_field(value, "z", path="body.build_volume_mm"),
    )


@register_record_type
@dataclass(frozen=True, slots=True, kw_only=True)
class Machine:
    """machine: a workshop describes one of its machines (a new record replaces the old)."""

    TYPE: ClassVar[str] = "machine"
    workshop: str
    machine: str
    kind: str
    processes: tuple[str, ...]
    materials: tuple[str, ...]
    build_volume_mm: tuple[str, str, str]
    precision_mm: str
    active: bool = True
    name: str | None = None
    make: str | None = None
    model: str | None = None
    # Build volume in thousandths of a mm, sorted descending (for the fit test).
    volume_sorted: tuple[int, int, int] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.build_volume_mm) != 3:
            raise InvalidRecord("body.build_volume_mm", "must have x, y and z")
        for axis, value in zip("xyz", self.build_volume_mm, strict=True):
            decimal3_field({axis: value}, axis, path="body.build_volume_mm")
        a, b, c = sorted((milli(v) for v in self.build_volume_mm), reverse=True)
        object.__setattr__(self, "volume_sorted", (a, b, c))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        check_keys(
            data,
            (
                "workshop",
                "machine",
                "kind",
                "processes",
                "materials",
                "build_volume_mm",
                "precision_mm",
            ),
            ("active", "name", "make", "model"),
        )
        active = data.get("active", True)
        if not isinstance(active, bool):
            raise InvalidRecord("body.active", "must be true or false")
        return cls(
            workshop=slug_field(data, "workshop"),
            machine=slug_field(data, "machine"),
            kind=slug_field(data, "kind"),
            processes=slug_list(data, "processes", min_items=1, max_items=MAX_PROCESSES),
            materials=slug_list(data, "materials", min_items=0, max_items=MAX_MATERIALS),
            build_volume_mm=_build_volume(data),
            precision_mm=decimal3_field(data, "precision_mm"),
            active=active,
            name=optional_str(data, "name", max_len=200),
            make=optional_str(data, "make", max_len=200),
            model=optional_str(data, "model", max_len=200),
        )

    def to_dict(self) -> dict[str, Any]:
        x, y, z = self.build_volume_mm
        out: dict[str, Any] = {
            "workshop": self.workshop,
            "machine": self.machine,
            "kind": self.kind,
            "processes": list(self.processes),
            "materials": list(self.materials),
            "build_volume_mm": {"x": x, "y": y, "z": z},
            "precision_mm": self.precision_mm,
        }
        if not self.active:
            out["active"] = False
        for key in ("name", "make", "model"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Price:
    """An offer's price model, in integer minor units of one currency."""

    currency: str
    setup: int
    per_cm3: int
    per_hour: int

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        if not isinstance(data, Mapping):
            raise InvalidRecord("body.price", "must be an object")
        try:
            check_keys(data, ("currency", "setup", "per_cm3", "per_hour"))
        except InvalidRecord as exc:
            raise InvalidRecord("body.price" + exc.field.removeprefix("body"), exc.reason) from exc
        currency = Money.from_dict({"amount": 0, "currency": data["currency"]}, "body.price")
        limit = 10**12

        def amount(key: str) -> int:
            try:
                return int_field(data, key, minimum=0, maximum=limit)
            except InvalidRecord as exc:
                raise InvalidRecord(f"body.price.{key}", exc.reason) from exc

        return cls(
            currency=currency.currency,
            setup=amount("setup"),
            per_cm3=amount("per_cm3"),
            per_hour=amount("per_hour"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "setup": self.setup,
            "per_cm3": self.per_cm3,
            "per_hour": self.per_hour,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Serves:
    """Where an offer delivers: whole countries, (country, region) pairs, or a radius."""

    countries: tuple[str, ...] = ()
    regions: tuple[tuple[str, str], ...] = ()
    radius_km: int | None = None
    # For routing: (country, case-folded region) pairs, and the radius in metres.
    region_keys: frozenset[tuple[str, str]] = field(init=False, compare=False, repr=False)
    radius_m: int = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.countries and not self.regions and self.radius_km is None:
            raise InvalidRecord("body.serves", "must name countries, regions or a radius")
        keys = frozenset((c, r.casefold()) for c, r in self.regions)
        object.__setattr__(self, "region_keys", keys)
        object.__setattr__(
            self, "radius_m", -1 if self.radius_km is None else self.radius_km * 1000
        )

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        if not isinstance(data, Mapping):
            raise InvalidRecord("body.serves", "must be an object")
        try:
            check_keys(data, (), ("countries", "regions", "radius_km"))
        except InvalidRecord as exc:
            raise InvalidRecord("body.serves" + exc.field.removeprefix("body"), exc.reason) from exc
        countries: tuple[str, ...] = ()
        if "countries" in data:
            raw = data["countries"]
            if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_REGIONS:
                raise InvalidRecord("body.serves.countries", "must list 1 to 64 country codes")
            countries = tuple(_country(c) for c in raw)
            if len(set(countries)) != len(countries):
                raise InvalidRecord("body.serves.countries", "must not repeat a country")
        regions: tuple[tuple[str, str], ...] = ()
        if "regions" in data:
            raw = data["regions"]
            if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_REGIONS:
                raise InvalidRecord("body.serves.regions", "must list 1 to 64 regions")
            regions = tuple(_region(r) for r in raw)
            if len(set(regions)) != len(regions):
                raise InvalidRecord("body.serves.regions", "must not repeat a region")
        radius: int | None = None
        if "radius_km" in data:
            try:
                radius = int_field(data, "radius_km", minimum=1, maximum=20_100)
            except InvalidRecord as exc:
                raise InvalidRecord("body.serves.radius_km", exc.reason) from exc
        return cls(countries=countries, regions=regions, radius_km=radius)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.countries:
            out["countries"] = list(self.countries)
        if self.regions:
            out["regions"] = [{"country": c, "region": r} for c, r in self.regions]
        if self.radius_km is not None:
            out["radius_km"] = self.radius_km
        return out


def _country(value: Any) -> str:
    if not isinstance(value, str) or len(value) != 2 or not value.isascii() or not value.isupper():
        raise InvalidRecord("body.serves.countries", "must hold ISO 3166-1 alpha-2 codes")
    if not value.isalpha():
        raise InvalidRecord("body.serves.countries", "must hold ISO 3166-1 alpha-2 codes")
    return value


def _region(value: Any) -> tuple[str, str]:
    if not isinstance(value, Mapping):
        raise InvalidRecord("body.serves.regions", "must hold {country, region} objects")
    try:
        check_keys(value, ("country", "region"))
        region = str_field(value, "region", max_len=200)
    except InvalidRecord as exc:
        raise InvalidRecord("body.serves.regions", exc.reason) from exc
    return _country(value.get("country")), region


@register_record_type
@dataclass(frozen=True, slots=True, kw_only=True)
class Offer:
    """offer: a workshop offers capacity on one machine (a new record with the slug replaces it)."""

    TYPE: ClassVar[str] = "offer"
    workshop: str
    offer: str
    machine: str
    processes: tuple[str, ...]
    materials: tuple[str, ...]
    price: Price
    rate_cm3_per_hour: str
    lead_time_days: int
    capacity_hours_per_week: int
    valid_from: str
    valid_until: str
    serves: Serves
    note: str | None = None
    valid_from_us: int = field(init=False, compare=False, repr=False)
    valid_until_us: int = field(init=False, compare=False, repr=False)
    rate_milli: int = field(init=False, compare=False, repr=False)
    # For routing (specs/05-capacity-and-jobs.md §8.1), with v the thousandths of mm³ to make:
    # price = setup + v·price_factor / price_divisor, production s = v·week_s / capacity_divisor.
    price_factor: int = field(init=False, compare=False, repr=False)
    price_divisor: int = field(init=False, compare=False, repr=False)
    capacity_divisor: int = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        decimal3_field({"rate_cm3_per_hour": self.rate_cm3_per_hour}, "rate_cm3_per_hour")
        start = epoch_us(parse_time(self.valid_from))
        end = epoch_us(parse_time(self.valid_until))
        if end <= start:
            raise InvalidRecord("body.valid_until", "must be later than valid_from")
        object.__setattr__(self, "valid_from_us", start)
        object.__setattr__(self, "valid_until_us", end)
        rate = milli(self.rate_cm3_per_hour)
        object.__setattr__(self, "rate_milli", rate)
        object.__setattr__(
            self, "price_factor", self.price.per_cm3 * rate + self.price.per_hour * 1000
        )
        object.__setattr__(self, "price_divisor", 1_000_000 * rate)
        object.__setattr__(self, "capacity_divisor", 1000 * rate * self.capacity_hours_per_week)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        check_keys(
            data,
            (
                "workshop",
                "offer",
                "machine",
                "processes",
                "materials",
                "price",
                "rate_cm3_per_hour",
                "lead_time_days",
                "capacity_hours_per_week",
                "valid_from",
                "valid_until",
                "serves",
            ),
            ("note",),
        )
        return cls(
            workshop=slug_field(data, "workshop"),
            offer=slug_field(data, "offer"),
            machine=slug_field(data, "machine"),
            processes=slug_list(data, "processes", min_items=1, max_items=MAX_PROCESSES),
            materials=slug_list(data, "materials", min_items=1, max_items=MAX_MATERIALS),
            price=Price.from_dict(data.get("price")),
            rate_cm3_per_hour=decimal3_field(data, "rate_cm3_per_hour"),
            lead_time_days=int_field(data, "lead_time_days", minimum=0, maximum=365),
            capacity_hours_per_week=int_field(
                data, "capacity_hours_per_week", minimum=1, maximum=168
            ),
            valid_from=time_field(data, "valid_from"),
            valid_until=time_field(data, "valid_until"),
            serves=Serves.from_dict(data.get("serves")),
            note=optional_str(data, "note", max_len=2000),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "workshop": self.workshop,
            "offer": self.offer,
            "machine": self.machine,
            "processes": list(self.processes),
            "materials": list(self.materials),
            "price": self.price.to_dict(),
            "rate_cm3_per_hour": self.rate_cm3_per_hour,
            "lead_time_days": self.lead_time_days,
            "capacity_hours_per_week": self.capacity_hours_per_week,
            "valid_from": self.valid_from,
            "valid_until": self.valid_until,
            "serves": self.serves.to_dict(),
        }
        if self.note is not None:
            out["note"] = self.note
        return out


@register_record_type
@dataclass(frozen=True, slots=True, kw_only=True)
class OfferWithdraw:
    """offer.withdraw: the workshop withdraws an open offer."""

    TYPE: ClassVar[str] = "offer.withdraw"
    workshop: str
    offer: str
    reason: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        check_keys(data, ("workshop", "offer"), ("reason",))
        return cls(
            workshop=slug_field(data, "workshop"),
            offer=slug_field(data, "offer"),
            reason=optional_str(data, "reason", max_len=2000),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"workshop": self.workshop, "offer": self.offer}
        if self.reason is not None:
            out["reason"] = self.reason
        return out


# Authorisation (specs/05-capacity-and-jobs.md §4). The state is JSON:
# {"workshops": {slug: {"owners": [did], "retired": bool}},
#  "machines": {"<workshop>/<machine>": {"active": bool, "processes": [..], "materials": [..]}},
#  "offers": {"<workshop>/<offer>": true}}  (true while open)


def capacity_state(state: LogAuthority) -> dict[str, Any]:
    """This package's part of the authority state (created empty on first use)."""
    ext: dict[str, Any] = state.extensions.setdefault(
        EXTENSION, {"workshops": {}, "machines": {}, "offers": {}}
    )
    return ext


def _peek(state: LogAuthority) -> dict[str, Any]:
    ext = state.extensions.get(EXTENSION)
    return ext if ext is not None else {"workshops": {}, "machines": {}, "offers": {}}


def require_owner(
    state: LogAuthority, record: Record, workshop: str, *, active: bool = True
) -> None:
    """Raise Unauthorised unless record's author is an owner key of `workshop` in this log.

    With active=False a retired workshop's owners may still sign (to finish jobs).
    """
    entry = _peek(state)["workshops"].get(workshop)
    if entry is None:
        raise Unauthorised(f"no workshop {workshop!r} is registered in this log")
    if active and entry["retired"]:
        raise Unauthorised(f"workshop {workshop!r} is retired")
    if record.author not in entry["owners"]:
        raise Unauthorised(f"{record.author} is not an owner key of workshop {workshop!r}")


def _check_register(state: LogAuthority, record: Record, body: WorkshopRegister) -> None:
    state.require_node(record)
    if state.node in body.owners:
        raise Unauthorised("the node key cannot own a workshop: owners commit machines")
    entry = _peek(state)["workshops"].get(body.workshop)
    if entry is not None and entry["retired"]:
        raise Unauthorised(f"workshop {body.workshop!r} is retired; its slug cannot be reused")


def _apply_register(state: LogAuthority, record: Record, body: WorkshopRegister) -> None:
    capacity_state(state)["workshops"][body.workshop] = {
        "owners": list(body.owners),
        "retired": False,
    }


def _check_retire(state: LogAuthority, record: Record, body: WorkshopRetire) -> None:
    entry = _peek(state)["workshops"].get(body.workshop)
    if entry is None or entry["retired"]:
        raise Unauthorised(f"no active workshop {body.workshop!r} in this log")
    if record.author != state.node:
        require_owner(state, record, body.workshop)


def _apply_retire(state: LogAuthority, record: Record, body: WorkshopRetire) -> None:
    capacity_state(state)["workshops"][body.workshop]["retired"] = True


def _check_machine(state: LogAuthority, record: Record, body: Machine) -> None:
    require_owner(state, record, body.workshop)


def _apply_machine(state: LogAuthority, record: Record, body: Machine) -> None:
    capacity_state(state)["machines"][f"{body.workshop}/{body.machine}"] = {
        "active": body.active,
        "processes": list(body.processes),
        "materials": list(body.materials),
    }


def _check_offer(state: LogAuthority, record: Record, body: Offer) -> None:
    require_owner(state, record, body.workshop)
    machine = _peek(state)["machines"].get(f"{body.workshop}/{body.machine}")
    if machine is None or not machine["active"]:
        raise Unauthorised(f"workshop {body.workshop!r} has no active machine {body.machine!r}")
    missing = sorted(set(body.processes) - set(machine["processes"]))
    if missing:
        raise Unauthorised(f"machine {body.machine!r} does not do {missing}")
    missing = sorted(set(body.materials) - set(machine["materials"]))
    if missing:
        raise Unauthorised(f"machine {body.machine!r} does not take {missing}")


def _apply_offer(state: LogAuthority, record: Record, body: Offer) -> None:
    capacity_state(state)["offers"][f"{body.workshop}/{body.offer}"] = True


def _check_withdraw(state: LogAuthority, record: Record, body: OfferWithdraw) -> None:
    require_owner(state, record, body.workshop, active=False)
    if not _peek(state)["offers"].get(f"{body.workshop}/{body.offer}"):
        raise Unauthorised(f"workshop {body.workshop!r} has no open offer {body.offer!r}")


def _apply_withdraw(state: LogAuthority, record: Record, body: OfferWithdraw) -> None:
    capacity_state(state)["offers"][f"{body.workshop}/{body.offer}"] = False


register_rule(WorkshopRegister.TYPE, _check_register, _apply_register)
register_rule(WorkshopRetire.TYPE, _check_retire, _apply_retire)
register_rule(Machine.TYPE, _check_machine, _apply_machine)
register_rule(Offer.TYPE, _check_offer, _apply_offer)
register_rule(OfferWithdraw.TYPE, _check_withdraw, _apply_withdraw)
