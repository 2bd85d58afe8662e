"""PURE: mesh figures as records carry them, the units verdict, and MeshError.

Kept apart from registry/mesh.py (trimesh, numpy) so that every path that
verifies a log can parse `design.analysis` records without loading a mesh
library. specs/04a-mesh-analysis.md §5 defines the figures, §5.3 the verdict.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, ClassVar, Self

__all__ = [
    "FORMATS",
    "UNITS",
    "MeshError",
    "MeshFigures",
    "MeshLimits",
    "UnitsVerdict",
    "format_of",
    "units_verdict",
]

FORMATS = ("stl", "obj", "ply", "3mf", "glb")

# specs/04a-mesh-analysis.md §4: millimetres per declared unit.
UNITS: Mapping[str, Decimal] = {"mm": Decimal(1), "inch": Decimal("25.4"), "m": Decimal(1000)}

_MIN_PLAUSIBLE_MM = Decimal(2)
_MAX_PLAUSIBLE_MM = Decimal(5000)
_TYPICAL_MM = Decimal(100)
_INCH_PATTERN_BELOW_MM = Decimal(50)
_INCH_STEP = Decimal(1) / Decimal(64)
_PATTERN_SLACK = Decimal("0.0006")
_THOUSANDTH = Decimal("0.001")
_DECIMAL_RE = re.compile(r"-?(0|[1-9][0-9]{0,29})\.[0-9]{3}")
_3MF_UNITS = {"millimeter": "mm", "inch": "inch", "meter": "m"}


class MeshError(ValueError):
    """The file cannot be analysed: empty, broken, hostile, too large, or of an unknown format."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True, kw_only=True)
class MeshLimits:
    """What a file may cost before it is refused (specs/04a-mesh-analysis.md §6)."""

    max_bytes: int = 64 * 1024 * 1024
    max_triangles: int = 2_000_000
    max_instances: int = 100_000
    max_archive_bytes: int = 256 * 1024 * 1024
    max_archive_entries: int = 1000
    max_archive_ratio: int = 200
    max_coordinate: float = 1e6


def format_of(filename: str) -> str:
    """The format a file name's extension names. Raises MeshError for others."""
    _, dot, extension = filename.rpartition(".")
    fmt = extension.lower()
    if not dot or fmt not in FORMATS:
        raise MeshError(
            f"unknown model format {filename!r}: the extension must be one of "
            + ", ".join("." + f for f in FORMATS)
        )
    return fmt


@dataclass(frozen=True, slots=True, kw_only=True)
class UnitsVerdict:
    """Whether the declared units give a plausible size, and which unit would."""

    plausible: bool
    suggested: str | None
    reason: str

    def __getitem__(self, key: str) -> Any:
        if key not in ("plausible", "suggested", "reason"):
            raise KeyError(key)
        return getattr(self, key)

    def to_dict(self) -> dict[str, Any]:
        return {"plausible": self.plausible, "suggested": self.suggested, "reason": self.reason}

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        if not isinstance(data, Mapping) or set(data) != {"plausible", "suggested", "reason"}:
            raise ValueError("units_verdict must have exactly plausible, suggested, reason")
        plausible, suggested, reason = data["plausible"], data["suggested"], data["reason"]
        if not isinstance(plausible, bool):
            raise ValueError("units_verdict.plausible must be a boolean")
        if suggested is not None and suggested not in UNITS:
            raise ValueError(f"units_verdict.suggested must be null or one of {sorted(UNITS)}")
        if not isinstance(reason, str) or not 1 <= len(reason) <= 500:
            raise ValueError("units_verdict.reason must be a string of 1 to 500 characters")
        return cls(plausible=plausible, suggested=suggested, reason=reason)


def _decimal_field(data: Mapping[str, Any], key: str, *, signed: bool = False) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not _DECIMAL_RE.fullmatch(value):
        raise ValueError(f"{key} must be a decimal string with 3 fractional digits")
    if value == "-0.000" or (value.startswith("-") and not signed):
        raise ValueError(f"{key} must not be negative")
    return value


def _triple(data: Mapping[str, Any], key: str) -> tuple[str, str, str]:
    value = data.get(key)
    if not isinstance(value, list | tuple) or len(value) != 3:
        raise ValueError(f"{key} must be a list of 3 decimal strings")
    items = [_decimal_field({key: v}, key) for v in value]
    return items[0], items[1], items[2]


def _count(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key)
    if type(value) is not int or not 0 <= value <= 2**53 - 1:
        raise ValueError(f"{key} must be a non-negative integer")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class MeshFigures:
    """The figures of one model file, in millimetres (specs/04a-mesh-analysis.md §5)."""

    KEYS: ClassVar[frozenset[str]] = frozenset(
        {
            "triangles",
            "vertices",
            "bodies",
            "degenerate_faces",
            "watertight",
            "units",
            "volume_mm3",
            "area_mm2",
            "aabb_mm",
            "obb_mm",
            "units_verdict",
        }
    )

    triangles: int
    vertices: int
    bodies: int
    degenerate_faces: int
    watertight: bool
    units: str
    volume_mm3: str
    area_mm2: str
    aabb_mm: tuple[str, str, str]
    obb_mm: tuple[str, str, str]
    units_verdict: UnitsVerdict

    def to_dict(self) -> dict[str, Any]:
        return {
            "triangles": self.triangles,
            "vertices": self.vertices,
            "bodies": self.bodies,
            "degenerate_faces": self.degenerate_faces,
            "watertight": self.watertight,
            "units": self.units,
            "volume_mm3": self.volume_mm3,
            "area_mm2": self.area_mm2,
            "aabb_mm": list(self.aabb_mm),
            "obb_mm": list(self.obb_mm),
            "units_verdict": self.units_verdict.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        """Validate figures as a record carries them. Raises ValueError naming the field."""
        if not isinstance(data, Mapping):
            raise ValueError("figures must be an object")
        if set(data) != cls.KEYS:
            missing = sorted(cls.KEYS - set(data))
            unknown = sorted(set(data) - cls.KEYS)
            raise ValueError(f"figures: missing {missing}, unknown {unknown}")
        if not isinstance(data["watertight"], bool):
            raise ValueError("watertight must be a boolean")
        if data["units"] not in UNITS:
            raise ValueError(f"units must be one of {sorted(UNITS)}")
        obb = _triple(data, "obb_mm")
        if sorted(obb, key=Decimal, reverse=True) != list(obb):
            raise ValueError("obb_mm must be sorted from largest to smallest")
        return cls(
            triangles=_count(data, "triangles"),
            vertices=_count(data, "vertices"),
            bodies=_count(data, "bodies"),
            degenerate_faces=_count(data, "degenerate_faces"),
            watertight=data["watertight"],
            units=data["units"],
            volume_mm3=_decimal_field(data, "volume_mm3", signed=True),
            area_mm2=_decimal_field(data, "area_mm2"),
            aabb_mm=_triple(data, "aabb_mm"),
            obb_mm=obb,
            units_verdict=UnitsVerdict.from_dict(data["units_verdict"]),
        )


# --- specs/04a-mesh-analysis.md §5.3: the units verdict ---------------------------------------


def units_verdict(
    aabb_mm: tuple[str, str, str], units: str, file_unit: str | None = None
) -> UnitsVerdict:
    """Judge the declared units from the axis-aligned extents (specs/04a-mesh-analysis.md §5.3)."""
    if file_unit is not None and _3MF_UNITS.get(file_unit) != units:
        ours = _3MF_UNITS.get(file_unit)
        return UnitsVerdict(
            plausible=False,
            suggested=ours,
            reason=f"the 3MF file says its unit is {file_unit!r} but {units} was declared",
        )
    extents = [Decimal(x) for x in aabb_mm]
    largest = max(extents)
    if largest == 0:
        return UnitsVerdict(plausible=False, suggested=None, reason="the part has no extent")
    if not _MIN_PLAUSIBLE_MM <= largest <= _MAX_PLAUSIBLE_MM:
        side = "below" if largest < _MIN_PLAUSIBLE_MM else "above"
        bound = _MIN_PLAUSIBLE_MM if largest < _MIN_PLAUSIBLE_MM else _MAX_PLAUSIBLE_MM
        reason = f"the largest extent {largest} mm is {side} {bound} mm"
        best: tuple[Decimal, str, Decimal] | None = None
        for other, factor in UNITS.items():
            if other == units:
                continue
            size = largest / UNITS[units] * factor
            if not _MIN_PLAUSIBLE_MM <= size <= _MAX_PLAUSIBLE_MM:
                continue
            distance = max(size / _TYPICAL_MM, _TYPICAL_MM / size)
            if best is None or distance < best[0]:
                best = (distance, other, size)
        if best is None:
            return UnitsVerdict(plausible=False, suggested=None, reason=reason)
        shown = best[2].quantize(_THOUSANDTH, rounding=ROUND_HALF_EVEN)
        return UnitsVerdict(
            plausible=False,
            suggested=best[1],
            reason=f"{reason}; read as {best[1]} it is {shown} mm",
        )
    if units == "mm" and largest < _INCH_PATTERN_BELOW_MM and _inch_pattern(extents):
        inches = " x ".join(
            str((x * UNITS["inch"]).quantize(_THOUSANDTH, rounding=ROUND_HALF_EVEN))
            for x in extents
        )
        return UnitsVerdict(
            plausible=False,
            suggested="inch",
            reason=(
                f"every extent ({' x '.join(aabb_mm)}) is a fraction of an inch (a multiple "
                f"of 1/64) and the part is under {_INCH_PATTERN_BELOW_MM} mm: "
                f"probably inches ({inches} mm)"
            ),
        )
    return UnitsVerdict(
        plausible=True,
        suggested=None,
        reason=(
            f"the largest extent {largest} mm is within "
            f"{_MIN_PLAUSIBLE_MM} to {_MAX_PLAUSIBLE_MM} mm"
        ),
    )


def _inch_pattern(extents: list[Decimal]) -> bool:
    def near(x: Decimal, step: Decimal) -> bool:
        return abs(x - (x / step).to_integral_value(rounding=ROUND_HALF_EVEN) * step) <= (
            _PATTERN_SLACK
        )

    return all(near(x, _INCH_STEP) for x in extents) and not all(
        near(x, Decimal(1)) for x in extents
    )
