"""The `design.analysis` record, its rule, and how two analyses of one file are compared.

specs/04a-mesh-analysis.md §7 gives the body (unknown fields are refused),
§7.2 who may sign it (the node key, about a design already in its log), and
§9 the tolerance within which a peer's published figures and a local
recomputation agree. Nothing here loads a mesh: registry/mesh.py does, and
the node decides when to.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar, Self

from protocol.authority import LogAuthority, register_rule
from protocol.errors import InvalidRecord, Unauthorised
from protocol.fields import check_keys, record_id_field
from protocol.records import Record, RecordId, register_record_type
from registry.figures import MeshFigures

__all__ = [
    "DEFAULT_TOLERANCE",
    "DesignAnalysis",
    "Tolerance",
    "figures_agree",
    "figures_disagreements",
]

_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_VERSION_RE = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+_-]{0,39}")
# registry/designs.py keeps every design id of a log under this extension key.
_DESIGNS_KEY = "design"


def _sha256(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not _SHA256_RE.fullmatch(value):
        raise InvalidRecord(f"body.{key}", "must be 64 lowercase hex digits")
    return value


def _analyser(data: Any) -> dict[str, str]:
    if not isinstance(data, Mapping) or set(data) != {"name", "trimesh"}:
        raise InvalidRecord("body.analyser", "must be an object with exactly name and trimesh")
    if data["name"] != "fabcommons":
        raise InvalidRecord("body.analyser.name", "must be fabcommons")
    version = data["trimesh"]
    if not isinstance(version, str) or not _VERSION_RE.fullmatch(version):
        raise InvalidRecord("body.analyser.trimesh", "must be a version string")
    return {"name": "fabcommons", "trimesh": version}


@register_record_type
@dataclass(frozen=True, slots=True, kw_only=True)
class DesignAnalysis:
    """design.analysis: a node's figures (and preview) of one model file of a design."""

    TYPE: ClassVar[str] = "design.analysis"
    design: RecordId
    file: str
    analyser: Mapping[str, str]
    figures: MeshFigures
    thumbnail: str | None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        check_keys(data, ("design", "file", "analyser", "figures", "thumbnail"))
        try:
            figures = MeshFigures.from_dict(data["figures"])
        except ValueError as exc:
            raise InvalidRecord("body.figures", str(exc)) from exc
        thumbnail = None if data["thumbnail"] is None else _sha256(data, "thumbnail")
        return cls(
            design=record_id_field(data, "design"),
            file=_sha256(data, "file"),
            analyser=_analyser(data["analyser"]),
            figures=figures,
            thumbnail=thumbnail,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "design": self.design,
            "file": self.file,
            "analyser": dict(self.analyser),
            "figures": self.figures.to_dict(),
            "thumbnail": self.thumbnail,
        }


def _check_analysis(state: LogAuthority, record: Record, body: DesignAnalysis) -> None:
    state.require_node(record)
    if body.design not in state.extensions.get(_DESIGNS_KEY, {}):
        raise Unauthorised(f"design.analysis names {body.design}, which is not in this log")


register_rule(DesignAnalysis.TYPE, _check_analysis)


@dataclass(frozen=True, slots=True, kw_only=True)
class Tolerance:
    """How far two analyses of the same bytes may differ (specs/04a-mesh-analysis.md §9)."""

    relative: Decimal = Decimal("1e-6")  # volume and area
    absolute_mm: Decimal = Decimal("0.001")  # every length, and the floor for all
    obb_relative: Decimal = Decimal("1e-3")  # the oriented box is a minimum over near-ties


DEFAULT_TOLERANCE = Tolerance()


def _close(a: str, b: str, relative: Decimal, floor: Decimal) -> bool:
    x, y = Decimal(a), Decimal(b)
    return abs(x - y) <= max(floor, relative * max(abs(x), abs(y)))


def figures_disagreements(
    a: MeshFigures, b: MeshFigures, tolerance: Tolerance = DEFAULT_TOLERANCE
) -> list[str]:
    """Each figure on which a and b differ beyond the tolerance, as 'name: a != b'."""
    out: list[str] = []
    for name in ("triangles", "vertices", "bodies", "degenerate_faces", "watertight", "units"):
        if getattr(a, name) != getattr(b, name):
            out.append(f"{name}: {getattr(a, name)} != {getattr(b, name)}")
    t = tolerance
    for name in ("volume_mm3", "area_mm2"):
        if not _close(getattr(a, name), getattr(b, name), t.relative, t.absolute_mm):
            out.append(f"{name}: {getattr(a, name)} != {getattr(b, name)}")
    for axis, (x, y) in zip("xyz", zip(a.aabb_mm, b.aabb_mm, strict=True), strict=True):
        if not _close(x, y, Decimal(0), t.absolute_mm):
            out.append(f"aabb_mm.{axis}: {x} != {y}")
    for i, (x, y) in enumerate(zip(a.obb_mm, b.obb_mm, strict=True)):
        if not _close(x, y, t.obb_relative, t.absolute_mm):
            out.append(f"obb_mm[{i}]: {x} != {y}")
    return out


def figures_agree(a: MeshFigures, b: MeshFigures, tolerance: Tolerance = DEFAULT_TOLERANCE) -> bool:
    """Whether two analyses of one file agree within the tolerance (the verdict is advice)."""
    return not figures_disagreements(a, b, tolerance)
