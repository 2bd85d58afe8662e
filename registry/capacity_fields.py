"""Value types and field validators of the capacity and job records: places, money, lengths.

specs/05-capacity-and-jobs.md §2 fixes their JSON forms. Every value keeps
the exact string it was given (so bodies round-trip byte for byte) and
exposes an exact integer form for arithmetic: lengths in thousandths of a
millimetre, coordinates in millionths of a degree. No floats are stored.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Self

from protocol.errors import InvalidRecord
from protocol.fields import check_keys
from protocol.records import parse_time

__all__ = [
    "EARTH_RADIUS_M",
    "Money",
    "Place",
    "decimal3_field",
    "epoch_us",
    "format_decimal3",
    "haversine_m",
    "milli",
    "slug_field",
    "slug_list",
    "time_field",
]

_SLUG_RE = re.compile(r"[a-z0-9](?:[a-z0-9._+-]{0,62}[a-z0-9])?")
_DECIMAL3_RE = re.compile(r"(0|[1-9][0-9]{0,11})\.([0-9]{3})")
_COORD_RE = re.compile(r"(-?)(0|[1-9][0-9]{0,2})\.([0-9]{6})")
_COUNTRY_RE = re.compile(r"[A-Z]{2}")
_CURRENCY_RE = re.compile(r"[A-Z]{3}")
_MAX_SAFE = 2**53 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# specs/05-capacity-and-jobs.md §2.3: the IUGG mean Earth radius, in metres.
EARTH_RADIUS_M = 6_371_008.8


def slug_field(data: Mapping[str, Any], key: str) -> str:
    """A lowercase identifier: workshop, machine, offer, process and material names."""
    value = data.get(key)
    if not isinstance(value, str) or not _SLUG_RE.fullmatch(value):
        raise InvalidRecord(
            f"body.{key}", "must be 1 to 64 of a-z 0-9 . _ + - (starting and ending alphanumeric)"
        )
    return value


def slug_list(
    data: Mapping[str, Any], key: str, *, min_items: int, max_items: int
) -> tuple[str, ...]:
    """A list of distinct slugs, kept in the given order."""
    value = data.get(key)
    if not isinstance(value, list) or not min_items <= len(value) <= max_items:
        raise InvalidRecord(f"body.{key}", f"must be a list of {min_items} to {max_items} names")
    items = tuple(slug_field({key: item}, key) for item in value)
    if len(set(items)) != len(items):
        raise InvalidRecord(f"body.{key}", "must not repeat a name")
    return items


def decimal3_field(
    data: Mapping[str, Any], key: str, *, positive: bool = True, path: str = "body"
) -> str:
    """A non-negative decimal string with exactly three fractional digits ("12.500")."""
    value = data.get(key)
    if not isinstance(value, str) or not _DECIMAL3_RE.fullmatch(value):
        raise InvalidRecord(
            f"{path}.{key}", 'must be a decimal string with 3 fractional digits, e.g. "12.500"'
        )
    if positive and value == "0.000":
        raise InvalidRecord(f"{path}.{key}", "must be greater than zero")
    return value


def milli(text: str) -> int:
    """The exact integer thousandths of a decimal3 string ("12.500" -> 12500)."""
    whole, _, frac = text.partition(".")
    return int(whole) * 1000 + int(frac)


def format_decimal3(thousandths: int) -> str:
    """Thousandths back to the decimal3 form (12500 -> "12.500")."""
    if thousandths < 0:
        raise ValueError("negative quantity")
    return f"{thousandths // 1000}.{thousandths % 1000:03d}"


def time_field(data: Mapping[str, Any], key: str, *, path: str = "body") -> str:
    value = data.get(key)
    try:
        parse_time(value)  # type: ignore[arg-type]
    except ValueError as exc:
        raise InvalidRecord(f"{path}.{key}", str(exc)) from exc
    return str(value)


def epoch_us(moment: datetime) -> int:
    """Microseconds since 1970-01-01T00:00:00Z, exactly."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _coordinate(data: Mapping[str, Any], key: str, limit: int, path: str) -> tuple[str, int]:
    value = data.get(key)
    match = _COORD_RE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidRecord(
            f"{path}.{key}", 'must be a decimal string with 6 fractional digits, e.g. "52.520008"'
        )
    sign, whole, frac = match.groups()
    micro = int(whole) * 1_000_000 + int(frac)
    if sign and micro == 0:
        raise InvalidRecord(f"{path}.{key}", "zero is written without a sign")
    if micro > limit * 1_000_000:
        raise InvalidRecord(f"{path}.{key}", f"must be within ±{limit} degrees")
    return str(value), -micro if sign else micro


@dataclass(frozen=True, slots=True, kw_only=True)
class Place:
    """A point on Earth with its country and region (specs/05-capacity-and-jobs.md §2.1)."""

    lat: str
    lon: str
    country: str
    region: str
    lat_e6: int = field(init=False, compare=False, repr=False)
    lon_e6: int = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        path = "place"
        _, lat_e6 = _coordinate({"lat": self.lat}, "lat", 90, path)
        _, lon_e6 = _coordinate({"lon": self.lon}, "lon", 180, path)
        if not isinstance(self.country, str) or not _COUNTRY_RE.fullmatch(self.country):
            raise InvalidRecord(f"{path}.country", "must be an ISO 3166-1 alpha-2 code, e.g. DE")
        if not isinstance(self.region, str) or len(self.region) > 200:
            raise InvalidRecord(f"{path}.region", "must be a string of at most 200 characters")
        object.__setattr__(self, "lat_e6", lat_e6)
        object.__setattr__(self, "lon_e6", lon_e6)

    @classmethod
    def from_dict(cls, data: Any, path: str = "body.place") -> Self:
        if not isinstance(data, Mapping):
            raise InvalidRecord(path, "must be an object")
        try:
            check_keys(data, ("lat", "lon", "country", "region"))
            return cls(
                lat=data["lat"], lon=data["lon"], country=data["country"], region=data["region"]
            )
        except InvalidRecord as exc:
            field_name = exc.field.removeprefix("body").removeprefix("place")
            raise InvalidRecord(path + field_name, exc.reason) from exc

    def to_dict(self) -> dict[str, Any]:
        return {"lat": self.lat, "lon": self.lon, "country": self.country, "region": self.region}


def haversine_m(a: Place, b: Place) -> int:
    """Great-circle distance in whole metres (haversine on the mean-radius sphere).

    specs/05-capacity-and-jobs.md §2.3: the one floating-point computation of
    routing; it is rounded to whole metres (half to even) before any
    comparison, and every later step is integer arithmetic.
    """
    lat1 = math.radians(a.lat_e6 / 1_000_000)
    lat2 = math.radians(b.lat_e6 / 1_000_000)
    dlat = lat2 - lat1
    dlon = math.radians((b.lon_e6 - a.lon_e6) / 1_000_000)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return round(2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h))))


@dataclass(frozen=True, slots=True, kw_only=True)
class Money:
    """An amount in integer minor units of an ISO 4217 currency."""

    amount: int
    currency: str

    @classmethod
    def from_dict(cls, data: Any, path: str = "body.money") -> Self:
        if not isinstance(data, Mapping):
            raise InvalidRecord(path, "must be an object")
        try:
            check_keys(data, ("amount", "currency"))
        except InvalidRecord as exc:
            raise InvalidRecord(path + exc.field.removeprefix("body"), exc.reason) from exc
        amount = data.get("amount")
        if type(amount) is not int or not 0 <= amount <= _MAX_SAFE:
            raise InvalidRecord(f"{path}.amount", "must be an integer of minor units, 0 or more")
        currency = data.get("currency")
        if not isinstance(currency, str) or not _CURRENCY_RE.fullmatch(currency):
            raise InvalidRecord(f"{path}.currency", "must be an ISO 4217 code, e.g. EUR")
        return cls(amount=amount, currency=currency)

    def to_dict(self) -> dict[str, Any]:
        return {"amount": self.amount, "currency": self.currency}
