"""Routing a job to capacity offers: feasibility with reasons, then an explainable ranking.

specs/05-capacity-and-jobs.md §8. `route` is pure and deterministic: given
the job request, the part's figures (volume, AABB and OBB in mm), every
current offer with its workshop, machine and track record, and `now`, it
decides for each offer whether it can take the job (and if not, every
reason why), estimates price, machine hours and completion, and ranks the
feasible ones by an integer score with a total tie-break. All arithmetic
is on integers (thousandths of a mm, minor units, microseconds); the one
floating-point step, the haversine distance, is rounded to whole metres
first. It never reads the clock or any store.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any, NamedTuple, Protocol

from protocol.did import Did
from protocol.records import RecordId, format_time
from registry.capacity import Machine, Offer, WorkshopRegister
from registry.capacity_fields import (
    Money,
    epoch_us,
    format_decimal3,
    haversine_m,
    milli,
)
from registry.jobs import JobRequest

__all__ = [
    "WEIGHTS",
    "Candidate",
    "Excluded",
    "Job",
    "MeshLike",
    "PartFigures",
    "Ranked",
    "Reason",
    "RouteResult",
    "TrackRecord",
    "estimate_hours_milli",
    "estimate_price",
    "fits",
    "route",
]

# specs/05-capacity-and-jobs.md §8.3: the weights of the score's components (lower is better).
WEIGHTS = {"price": 4, "time": 2, "distance": 1, "reliability": 2}
_US_PER_S = 1_000_000
_WEEK_S = 7 * 86_400
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_AXES = "xyz"
_DECIMAL3 = re.compile(r"(0|[1-9][0-9]*)\.[0-9]{3}")


class MeshLike(Protocol):
    """What routing needs of registry.figures.MeshFigures (the mesh analysis' figures)."""

    @property
    def volume_mm3(self) -> str: ...
    @property
    def aabb_mm(self) -> tuple[str, str, str]: ...
    @property
    def obb_mm(self) -> tuple[str, str, str]: ...


@dataclass(frozen=True, slots=True)
class PartFigures:
    """The figures of one part, in decimal3 mm strings, with their exact integer forms."""

    volume_mm3: str
    aabb_mm: tuple[str, str, str]
    obb_mm: tuple[str, str, str]
    volume_milli: int = field(init=False, repr=False, compare=False)
    aabb_milli: tuple[int, int, int] = field(init=False, repr=False, compare=False)
    obb_milli: tuple[int, int, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.aabb_mm) != 3 or len(self.obb_mm) != 3:
            raise ValueError("a bounding box has three extents")
        for value in (self.volume_mm3, *self.aabb_mm, *self.obb_mm):
            if not _DECIMAL3.fullmatch(value):
                raise ValueError(f"{value!r} is not a non-negative decimal with 3 digits")
        object.__setattr__(self, "volume_milli", milli(self.volume_mm3))
        a = tuple(milli(v) for v in self.aabb_mm)
        o = tuple(milli(v) for v in self.obb_mm)
        object.__setattr__(self, "aabb_milli", a)
        object.__setattr__(self, "obb_milli", o)

    @classmethod
    def from_mesh(cls, figures: MeshLike) -> PartFigures:
        return cls(
            volume_mm3=figures.volume_mm3,
            aabb_mm=tuple(figures.aabb_mm),  # type: ignore[arg-type]
            obb_mm=tuple(figures.obb_mm),  # type: ignore[arg-type]
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "volume_mm3": self.volume_mm3,
            "aabb_mm": list(self.aabb_mm),
            "obb_mm": list(self.obb_mm),
        }


@dataclass(frozen=True, slots=True)
class TrackRecord:
    """A workshop's record in the logs, and the machine hours it has committed already."""

    completed: int = 0
    failed: int = 0
    committed_milli_hours: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "completed": self.completed,
            "failed": self.failed,
            "committed_hours": format_decimal3(self.committed_milli_hours),
        }


class Candidate(NamedTuple):
    """One current offer, with what routing needs to judge it (a named tuple: a node builds
    one per open offer for every routing)."""

    log: Did
    offer_id: RecordId
    offer: Offer
    workshop: WorkshopRegister
    machine: Machine | None
    retired: bool = False
    track: TrackRecord = TrackRecord()
    reachable: bool = True

    def summary(self) -> dict[str, Any]:
        return {
            "log": self.log,
            "workshop": self.offer.workshop,
            "workshop_name": self.workshop.name,
            "offer": self.offer.offer,
            "offer_id": self.offer_id,
            "machine": self.offer.machine,
        }


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "detail": self.detail}


class Job(NamedTuple):
    """What one routing was asked: the wording of reasons looks back at it."""

    request: JobRequest
    part: PartFigures
    now_us: int


class Excluded(NamedTuple):
    """An offer left out, with the code of every reason; the details are worded when asked
    for, from the candidate and the job (routing makes thousands of these)."""

    candidate: Candidate
    codes: tuple[str, ...]
    job: Job

    @property
    def reasons(self) -> tuple[Reason, ...]:
        return tuple(Reason(code, _DETAILS[code](self.candidate, self.job)) for code in self.codes)

    def to_dict(self) -> dict[str, Any]:
        return {**self.candidate.summary(), "reasons": [r.to_dict() for r in self.reasons]}


class Ranked(NamedTuple):
    """A feasible offer with its estimate, its score's components and its place.

    A named tuple, and `fit` worded when asked for: routing must stay cheap.
    """

    candidate: Candidate
    rank: int
    price: Money
    hours_milli: int
    distance_m: int
    completion_us: int
    box: str  # "aabb" or "obb": the box of the part that fits the build volume
    part: PartFigures
    points: dict[str, int]
    score: int

    @property
    def fit(self) -> dict[str, Any]:
        machine = self.candidate.machine
        assert machine is not None
        return _fit(self.box, self.part, machine)

    @property
    def completion(self) -> str:
        return _format_us(self.completion_us)

    def estimate(self) -> dict[str, Any]:
        """The body.estimate of a job.offer for this candidate."""
        return {
            "price": self.price.to_dict(),
            "hours": format_decimal3(self.hours_milli),
            "distance_m": self.distance_m,
            "completion": self.completion,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            **self.candidate.summary(),
            "estimate": self.estimate(),
            "fit": self.fit,
            "score": self.score,
            "components": {
                name: {"points": self.points[name], "weight": WEIGHTS[name]} for name in WEIGHTS
            },
            "track": self.candidate.track.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class RouteResult:
    ranking: tuple[Ranked, ...]
    excluded: tuple[Excluded, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ranking": [r.to_dict() for r in self.ranking],
            "excluded": [e.to_dict() for e in self.excluded],
        }


_MAX_US = epoch_us(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC))


def _format_us(us: int) -> str:
    """An RFC 3339 time for microseconds since the epoch (clamped to the year 9999)."""
    return format_time(_EPOCH + timedelta(microseconds=min(us, _MAX_US)))


def _div_half_even(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded to an integer, half to even (both non-negative)."""
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2 == 1):
        quotient += 1
    return quotient


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def estimate_hours_milli(volume_milli: int, quantity: int, rate_milli: int) -> int:
    """Machine hours (thousandths, half-even) for quantity parts at rate cm³/h.

    hours = (volume_mm³ / 1000) · quantity / rate; in thousandths that is
    volume_milli · quantity / rate_milli.
    """
    return _div_half_even(volume_milli * quantity, rate_milli)


def estimate_price(offer: Offer, volume_milli: int, quantity: int) -> int:
    """setup + per_cm3 · cm³ + per_hour · hours, the variable part rounded once, half-even.

    With V = volume_milli / 10⁶ cm³ per part and r = rate_milli / 1000 cm³/h:
    per_cm3·V·q + per_hour·V·q/r = (per_cm3·v·q·r_milli + per_hour·v·q·1000) / (10⁶·r_milli).
    """
    price, r = offer.price, offer.rate_milli
    amount = volume_milli * quantity
    numerator = price.per_cm3 * amount * r + price.per_hour * amount * 1000
    return price.setup + _div_half_even(numerator, 1_000_000 * r)


def _sorted_desc(values: tuple[int, int, int]) -> list[tuple[int, int]]:
    """(extent, axis index) from the largest to the smallest, ties by axis index."""
    return sorted(((v, i) for i, v in enumerate(values)), key=lambda p: (-p[0], p[1]))


def fits(part: tuple[int, int, int], volume: tuple[int, int, int]) -> dict[str, str] | None:
    """Does a box with extents `part` fit `volume` under some permutation of its axes?

    A permutation exists exactly when, both sorted descending, each extent of
    the part is at most the matching extent of the volume. Returns the
    mapping part axis -> machine axis, or None.
    """
    p, v = _sorted_desc(part), _sorted_desc(volume)
    if any(pe > ve for (pe, _), (ve, _) in zip(p, v, strict=True)):
        return None
    return {_AXES[pi]: _AXES[vi] for (_, pi), (_, vi) in zip(p, v, strict=True)}


def _fit(box: str, part: PartFigures, machine: Machine) -> dict[str, Any]:
    extents, names = (
        (part.aabb_milli, part.aabb_mm) if box == "aabb" else (part.obb_milli, part.obb_mm)
    )
    volume = tuple(milli(v) for v in machine.build_volume_mm)
    assert len(volume) == 3
    return {
        "box": box,
        "part_mm": list(names),
        "build_volume_mm": list(machine.build_volume_mm),
        "axes": fits(extents, volume),
    }


def _when(us: int) -> str:
    return _format_us(us)


# specs/05-capacity-and-jobs.md §8.4: exclusions are listed by log, then offer record id (unique
# within a log). Two stable sorts on single strings: no key tuples for thousands of entries.
_BY_OFFER_ID = attrgetter("candidate.offer_id")
_BY_LOG = attrgetter("candidate.log")


# specs/05-capacity-and-jobs.md §8.2: how each reason is worded.
def _price(c: Candidate, job: Job) -> int:
    return estimate_price(c.offer, job.part.volume_milli, job.request.quantity)


def _completion_us(c: Candidate, job: Job) -> int:
    offer = c.offer
    amount = job.part.volume_milli * job.request.quantity
    load = (c.track.committed_milli_hours * offer.rate_milli + amount) * _WEEK_S
    production_s = -(-load // offer.capacity_divisor)
    return job.now_us + (offer.lead_time_days * 86_400 + production_s) * _US_PER_S


def _size(c: Candidate, job: Job) -> str:
    part, machine = job.part, c.machine
    volume = " × ".join(machine.build_volume_mm) if machine is not None else "?"
    return (
        f"the part ({' × '.join(part.aabb_mm)} mm, OBB {' × '.join(part.obb_mm)} mm) fits the "
        f"build volume {volume} mm in no orientation"
    )


def _region(c: Candidate, job: Job) -> str:
    place = job.request.deliver_to
    distance_m = haversine_m(c.workshop.place, place)
    return f"does not deliver to {place.country}/{place.region} ({distance_m} m away)"


def _deadline(c: Candidate, job: Job) -> str:
    offer = c.offer
    return (
        f"with {format_decimal3(c.track.committed_milli_hours)} h committed at "
        f"{offer.capacity_hours_per_week} h/week and {offer.lead_time_days} days' lead time it "
        f"would be done at {_when(_completion_us(c, job))}, after {job.request.deadline}"
    )


_DETAILS: dict[str, Callable[[Candidate, Job], str]] = {
    "already_offered": lambda c, job: "this job was offered to the workshop before",
    "retired": lambda c, job: "the workshop is retired",
    "unreachable": lambda c, job: "the workshop's node does not answer",
    "machine": lambda c, job: f"machine {c.offer.machine!r} is not in service",
    "size": _size,
    "process": lambda c, job: f"offers {list(c.offer.processes)}, not {job.request.process}",
    "material": lambda c, job: f"offers {list(c.offer.materials)}, not {job.request.material}",
    "not_yet_valid": lambda c, job: f"the offer is valid from {c.offer.valid_from}",
    "expired": lambda c, job: f"the offer expired at {c.offer.valid_until}",
    "region": _region,
    "currency": lambda c, job: (
        f"prices in {c.offer.price.currency}, budget in {job.request.budget.currency}"
    ),
    "budget": lambda c, job: (
        f"estimated {_price(c, job)} > budget {job.request.budget.amount} (minor units)"
    ),
    "deadline": _deadline,
}


def route(
    request: JobRequest,
    part: PartFigures,
    candidates: Iterable[Candidate],
    *,
    now: datetime,
    exclude: Collection[tuple[str, str]] = (),
) -> RouteResult:
    """Judge every candidate for the job and rank the feasible ones (best first).

    `exclude` holds (workshop log, workshop slug) pairs already offered this job.
    """
    now_us = epoch_us(now)
    deadline_us = request.deadline_us
    window_us = deadline_us - now_us
    budget = request.budget
    amount_budget, currency = budget.amount, budget.currency
    place = request.deliver_to
    country, region = place.country, place.region.casefold()
    process, material = request.process, request.material
    excluded_pairs = set(exclude)
    a1, a2, a3 = sorted(part.aabb_milli, reverse=True)
    o1, o2, o3 = sorted(part.obb_milli, reverse=True)
    quantity = request.quantity
    amount = part.volume_milli * quantity  # thousandths of mm³, all parts
    distances: dict[tuple[str, str], int] = {}
    ranked: list[tuple[tuple[Any, ...], Candidate, str, int, int, int]] = []
    excluded: list[Excluded] = []
    job = Job(request, part, now_us)
    # One list reused for every candidate: routing allocates as little as it can.
    found: list[str] = []
    for c in candidates:
        offer = c.offer
        shop = (c.log, offer.workshop)
        if excluded_pairs and shop in excluded_pairs:
            found.append("already_offered")
        if c.retired:
            found.append("retired")
        if not c.reachable:
            found.append("unreachable")
        machine = c.machine
        box = ""
        if machine is None or not machine.active:
            found.append("machine")
        else:
            v1, v2, v3 = machine.volume_sorted
            if a1 <= v1 and a2 <= v2 and a3 <= v3:
                box = "aabb"
            elif o1 <= v1 and o2 <= v2 and o3 <= v3:
                box = "obb"
            else:
                found.append("size")
        if process not in offer.processes:
            found.append("process")
        if material not in offer.materials:
            found.append("material")
        if now_us < offer.valid_from_us:
            found.append("not_yet_valid")
        elif now_us >= offer.valid_until_us:
            found.append("expired")
        distance_m = distances.get(shop)
        if distance_m is None:
            distance_m = distances[shop] = haversine_m(c.workshop.place, place)
        serves = offer.serves
        if not (
            country in serves.countries
            or distance_m <= serves.radius_m
            or (country, region) in serves.region_keys
        ):
            found.append("region")
        # Exact integers, rounded once (half to even), as estimate_price does.
        divisor = offer.price_divisor
        quotient, remainder = divmod(amount * offer.price_factor, divisor)
        if 2 * remainder > divisor or (2 * remainder == divisor and quotient & 1):
            quotient += 1
        price_amount = offer.price.setup + quotient
        offered_currency = offer.price.currency
        if offered_currency != currency:
            found.append("currency")
        elif price_amount > amount_budget:
            found.append("budget")
        committed = c.track.committed_milli_hours
        load = (committed * offer.rate_milli + amount) * _WEEK_S
        production_s = -(-load // offer.capacity_divisor)
        completion_us = now_us + (offer.lead_time_days * 86_400 + production_s) * _US_PER_S
        if completion_us > deadline_us or window_us <= 0:
            found.append("deadline")
        if found:
            excluded.append(Excluded(c, tuple(found), job))
            found.clear()
            continue
        key = (0, price_amount, distance_m, completion_us, c.log, offer.workshop, c.offer_id)
        ranked.append((key, c, box, price_amount, distance_m, completion_us))
    scored = []
    for key, c, box, price_amount, distance_m, completion_us in ranked:
        track = c.track
        points = {
            "price": price_amount * 1000 // amount_budget if amount_budget else 0,
            "time": (completion_us - now_us) * 1000 // window_us,
            "distance": min(1000, distance_m // 1000),
            "reliability": (track.failed + 1) * 1000 // (track.completed + track.failed + 2),
        }
        score = sum(WEIGHTS[name] * value for name, value in points.items())
        scored.append(((score, *key[1:]), c, box, price_amount, distance_m, completion_us, points))
    scored.sort(key=lambda item: item[0])
    ranking = tuple(
        Ranked(
            c,
            i + 1,
            Money(amount=price_amount, currency=c.offer.price.currency),
            estimate_hours_milli(part.volume_milli, quantity, c.offer.rate_milli),
            distance_m,
            completion_us,
            box,
            part,
            points,
            key[0],
        )
        for i, (key, c, box, price_amount, distance_m, completion_us, points) in enumerate(scored)
    )
    excluded.sort(key=_BY_OFFER_ID)
    excluded.sort(key=_BY_LOG)
    return RouteResult(ranking=ranking, excluded=tuple(excluded))
