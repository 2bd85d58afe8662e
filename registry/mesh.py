"""PURE: the figures of a model file, as specs/04a-mesh-analysis.md defines them.

`analyse(data, filename, units=...)` checks the bytes before trimesh sees
them (binary STL lengths, 3MF zip sizes and instancing, GLB and PLY headers),
loads them with pinned options, combines a scene's meshes in a pinned order,
and measures the result: counts, watertightness, bodies, degenerate faces,
volume, area, axis-aligned and oriented bounds, and a verdict on the declared
units. Figures are in millimetres as decimal strings with three fractional
digits, so any peer that runs the same procedure on the same bytes gets the
same record. This module does not render (registry/thumbnail.py does), limit
time or memory (the node's worker process does), or read files.
"""

from __future__ import annotations

import io
import json
import math
import re
import struct
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any
from xml.etree import ElementTree

import numpy as np
import trimesh
from numpy.typing import NDArray
from scipy.sparse import coo_matrix  # type: ignore[import-untyped]
from scipy.sparse.csgraph import connected_components  # type: ignore[import-untyped]
from scipy.spatial import ConvexHull, QhullError  # type: ignore[import-untyped]

from registry.figures import (
    FORMATS,
    UNITS,
    MeshError,
    MeshFigures,
    MeshLimits,
    UnitsVerdict,
    format_of,
    units_verdict,
)

__all__ = [
    "FORMATS",
    "UNITS",
    "Mesh",
    "MeshError",
    "MeshFigures",
    "MeshLimits",
    "UnitsVerdict",
    "analyse",
    "analyse_mesh",
    "analyser",
    "format_of",
    "units_verdict",
]

# specs/04a-mesh-analysis.md §5: above this many hull vertices the OBB search is coarser,
# and above this many vertices the box is oriented from a sample of them.
_HULL_FINE_LIMIT = 4096
_OBB_SAMPLE = 20_000
_THOUSANDTH = Decimal("0.001")
# Exact products of a double (at most ~770 significant digits) and a unit factor.
_EXACT = Context(prec=2000, rounding=ROUND_HALF_EVEN, Emax=999_999, Emin=-999_999)


@dataclass(frozen=True, slots=True, eq=False)
class Mesh:
    """The combined, vertex-merged triangles that the figures describe (file units)."""

    vertices: NDArray[np.float64]
    faces: NDArray[np.int64]


def analyser() -> dict[str, str]:
    """The `analyser` object of a design.analysis record made by this code."""
    return {"name": "fabcommons", "trimesh": str(trimesh.__version__)}


def analyse(
    data: bytes, filename: str, *, units: str, limits: MeshLimits | None = None
) -> MeshFigures:
    """The figures of a model file whose lengths are in `units`. Raises MeshError."""
    return analyse_mesh(data, filename, units=units, limits=limits)[0]


def analyse_mesh(
    data: bytes | bytearray, filename: str, *, units: str, limits: MeshLimits | None = None
) -> tuple[MeshFigures, Mesh]:
    """The figures and the measured mesh (for a thumbnail). Raises MeshError."""
    limits = limits or MeshLimits()
    if units not in UNITS:
        raise MeshError(f"unknown units {units!r}: declare one of {', '.join(UNITS)}")
    fmt = format_of(filename)
    if not data:
        raise MeshError("the file is empty")
    if len(data) > limits.max_bytes:
        raise MeshError(f"the file has {len(data)} bytes, more than the limit {limits.max_bytes}")
    file_unit = _PRECHECKS[fmt](data, limits)
    vertices, faces = _combine(_load(data, fmt), limits)
    mesh = trimesh.Trimesh(vertices=vertices, faces=faces, process=True, validate=False)
    # Degenerate parts divide by zero inside trimesh (centres of mass of flat
    # faces); those intermediate values never reach a figure.
    with np.errstate(divide="ignore", invalid="ignore"):
        figures = _measure(mesh, units, file_unit)
    return figures, Mesh(
        vertices=np.asarray(mesh.vertices, dtype=np.float64),
        faces=np.asarray(mesh.faces, dtype=np.int64),
    )


# --- specs/04a-mesh-analysis.md §3: checks before loading -------------------------------------


def _check_stl(data: bytes | bytearray, limits: MeshLimits) -> str | None:
    size = len(data)
    count = int.from_bytes(data[80:84], "little") if size >= 84 else -1
    expected = 84 + 50 * count
    if size == expected:
        if count == 0:
            raise MeshError("the binary STL holds no triangles")
        _check_count(count, limits)
        return None
    if _is_ascii_stl(data):
        estimate = data.lower().count(b"vertex") // 3
        if estimate == 0:
            raise MeshError("the ASCII STL holds no triangles")
        _check_count(estimate, limits)
        return None
    if size < 84:
        raise MeshError(
            f"the file has {size} bytes: too short for a binary STL (80-byte header and "
            "a 4-byte triangle count) and not an ASCII STL"
        )
    if count > limits.max_triangles:
        raise MeshError(
            f"the binary STL header declares {count} triangles, "
            f"more than the limit of {limits.max_triangles}"
        )
    body = size - 84
    held, partial = divmod(body, 50)
    if size < expected and partial:
        raise MeshError(
            f"the binary STL is truncated: its header declares {count} triangles "
            f"({expected} bytes) but the file has {size} bytes and ends inside triangle {held + 1}"
        )
    if size < expected:
        raise MeshError(
            f"the binary STL header declares {count} triangles but the file holds only {held}"
        )
    raise MeshError(
        f"{size - expected} bytes follow the {count} triangles the binary STL header declares"
    )


def _is_ascii_stl(data: bytes | bytearray) -> bool:
    if data.lstrip()[:5].lower() != b"solid":
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _check_count(triangles: int, limits: MeshLimits) -> None:
    if triangles > limits.max_triangles:
        raise MeshError(
            f"the file has {triangles} triangles, more than the limit of {limits.max_triangles}"
        )


def _check_obj(data: bytes | bytearray, limits: MeshLimits) -> str | None:
    faces = data.count(b"\nf ") + data.count(b"\nf\t") + data.startswith((b"f ", b"f\t"))
    if faces == 0:
        raise MeshError("the OBJ file has no faces")
    _check_count(faces, limits)
    return None


_PLY_ELEMENT = re.compile(rb"element\s+(\S+)\s+(\d+)")


def _check_ply(data: bytes | bytearray, limits: MeshLimits) -> str | None:
    end = data.find(b"end_header", 0, 65536)
    if not data.startswith(b"ply") or end < 0:
        raise MeshError("not a PLY file: no 'ply' magic or no end_header in the first 64 KiB")
    counts = {m.group(1): int(m.group(2)) for m in _PLY_ELEMENT.finditer(data[:end])}
    faces = counts.get(b"face", 0)
    if faces == 0:
        raise MeshError("the PLY file declares no faces")
    _check_count(faces, limits)
    if counts.get(b"vertex", 0) > 3 * limits.max_triangles:
        raise MeshError(f"the PLY file declares {counts[b'vertex']} vertices, too many")
    return None


def _check_glb(data: bytes | bytearray, limits: MeshLimits) -> str | None:
    if len(data) < 20 or data[:4] != b"glTF":
        raise MeshError("not a GLB file: no glTF magic")
    version, length = struct.unpack_from("<II", data, 4)
    if version != 2:
        raise MeshError(f"GLB version {version} is not supported (only 2)")
    if length != len(data):
        raise MeshError(f"the GLB header says {length} bytes but the file has {len(data)}")
    chunk_length, chunk_type = struct.unpack_from("<II", data, 12)
    if chunk_type != 0x4E4F534A or 20 + chunk_length > len(data):
        raise MeshError("the GLB file does not start with a complete JSON chunk")
    try:
        gltf = json.loads(data[20 : 20 + chunk_length])
    except ValueError as exc:
        raise MeshError("the GLB file's JSON chunk is not valid JSON") from exc
    if not isinstance(gltf, dict):
        raise MeshError("the GLB file's JSON chunk is not an object")
    _check_gltf_instances(gltf, limits)
    return None


def _gltf_list(gltf: Mapping[str, Any], key: str) -> list[Any]:
    value = gltf.get(key, [])
    if not isinstance(value, list):
        raise MeshError(f"the glTF {key} is not a list")
    return value


def _check_gltf_instances(gltf: Mapping[str, Any], limits: MeshLimits) -> None:
    """Refuse a node graph that instances more triangles than allowed, or loops."""
    accessors = _gltf_list(gltf, "accessors")
    nodes = [node if isinstance(node, dict) else {} for node in _gltf_list(gltf, "nodes")]

    def accessor_count(index: Any) -> int:
        if type(index) is not int or not 0 <= index < len(accessors):
            raise MeshError("a glTF primitive refers to a missing accessor")
        accessor = accessors[index]
        count = accessor.get("count", 0) if isinstance(accessor, dict) else 0
        return count if type(count) is int and count >= 0 else 0

    mesh_triangles: list[int] = []
    for mesh in _gltf_list(gltf, "meshes"):
        total = 0
        primitives = mesh.get("primitives", []) if isinstance(mesh, dict) else []
        for primitive in primitives if isinstance(primitives, list) else []:
            # glTF 2.0 §3.7.2.1: mode 4 (the default) is a triangle list.
            if not isinstance(primitive, dict) or primitive.get("mode", 4) != 4:
                continue
            if "indices" in primitive:
                total += accessor_count(primitive["indices"]) // 3
            elif isinstance(primitive.get("attributes"), dict):
                total += accessor_count(primitive["attributes"].get("POSITION")) // 3
        mesh_triangles.append(total)

    def indexes(value: Any, what: str) -> list[int]:
        if not isinstance(value, list) or not all(type(k) is int for k in value):
            raise MeshError(f"the glTF {what} is not a list of node indexes")
        return value

    def own(index: int) -> int:
        mesh = nodes[index].get("mesh")
        if type(mesh) is int and 0 <= mesh < len(mesh_triangles):
            return mesh_triangles[mesh]
        return 0

    cost = _instance_cost(
        len(nodes), own, lambda index: indexes(nodes[index].get("children", []), "children")
    )
    roots: list[int] = []
    for scene in _gltf_list(gltf, "scenes"):
        roots.extend(indexes(scene.get("nodes", []) if isinstance(scene, dict) else [], "scene"))
    triangles = instances = 0
    for root in roots:
        root_triangles, root_instances = cost(root)
        triangles += root_triangles
        instances += root_instances
    _check_instances(triangles, instances, limits)


def _check_instances(triangles: int, instances: int, limits: MeshLimits) -> None:
    if instances > limits.max_instances:
        raise MeshError(
            f"the scene places {instances} instances, more than the limit of {limits.max_instances}"
        )
    if triangles > limits.max_triangles:
        raise MeshError(
            f"the scene's instances add up to {triangles} triangles, "
            f"more than the limit of {limits.max_triangles}"
        )


def _instance_cost(
    size: int, own: Callable[[int], int], children: Callable[[int], list[int]]
) -> Callable[[int], tuple[int, int]]:
    """Memoised (triangles, instances) below a node of a DAG; refuses cycles and bad refs."""
    memo: dict[int, tuple[int, int]] = {}
    active: set[int] = set()

    def cost(index: int) -> tuple[int, int]:
        if not 0 <= index < size:
            raise MeshError(f"the scene refers to a missing node {index}")
        if index in memo:
            return memo[index]
        if index in active:
            raise MeshError("the scene graph has a cycle")
        active.add(index)
        triangles: int = own(index)
        instances = 1 if triangles else 0
        for child in children(index):
            child_triangles, child_instances = cost(child)
            # Saturate: a deep DAG can describe astronomically many instances.
            triangles = min(triangles + child_triangles, 2**62)
            instances = min(instances + child_instances, 2**62)
        active.discard(index)
        memo[index] = (triangles, instances)
        return memo[index]

    return cost


def _check_3mf(data: bytes | bytearray, limits: MeshLimits) -> str | None:
    """Check the zip's declared sizes, then the model's instancing, before trimesh opens it."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise MeshError("not a 3MF file: it is not a readable ZIP archive") from exc
    if len(infos) > limits.max_archive_entries:
        raise MeshError(
            f"the 3MF archive has {len(infos)} entries, more than {limits.max_archive_entries}"
        )
    total = 0
    for info in infos:
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > 1024 * 1024 and ratio > limits.max_archive_ratio:
            raise MeshError(
                f"the 3MF entry {info.filename!r} expands {ratio:.0f} times "
                f"(limit {limits.max_archive_ratio}): a zip bomb?"
            )
        if total > limits.max_archive_bytes:
            raise MeshError(
                f"the 3MF archive declares more than {limits.max_archive_bytes} "
                "uncompressed bytes: a zip bomb?"
            )
    models = [i for i in infos if i.filename.lower().endswith(".model")]
    if not any("3d/3dmodel.model" in i.filename.lower() for i in models):
        raise MeshError("the 3MF archive has no 3D/3dmodel.model part")
    objects: dict[str, tuple[int, list[str]]] = {}
    items: list[str] = []
    unit: str | None = None
    for info in models:
        try:
            part = archive.read(info)
        except (zipfile.BadZipFile, ValueError, EOFError, OSError) as exc:
            raise MeshError(f"the 3MF entry {info.filename!r} cannot be read") from exc
        part_unit = _scan_3mf_model(part, info.filename, objects, items)
        if "3d/3dmodel.model" in info.filename.lower():
            unit = part_unit
    ids = sorted(objects)
    position = {object_id: i for i, object_id in enumerate(ids)}

    def children(index: int) -> list[int]:
        return [position.get(ref, -1) for ref in objects[ids[index]][1]]

    cost = _instance_cost(len(ids), lambda i: objects[ids[i]][0], children)
    triangles = instances = 0
    for ref in items:
        item_triangles, item_instances = cost(position.get(ref, -1))
        triangles += item_triangles
        instances += item_instances
    _check_instances(triangles, instances, limits)
    if triangles == 0:
        raise MeshError("the 3MF build places no triangles")
    return unit


def _scan_3mf_model(
    part: bytes, name: str, objects: dict[str, tuple[int, list[str]]], items: list[str]
) -> str:
    """Count each object's triangles and components and the build items of one model part."""
    if b"<!DOCTYPE" in part or b"<!ENTITY" in part:
        raise MeshError(f"the 3MF part {name!r} declares a DTD or entities, which 3MF never needs")
    unit = "millimeter"
    current: str | None = None
    # With no DTD there are no entities to expand, so expat is safe here.
    events = ElementTree.iterparse(io.BytesIO(part), events=("start", "end"))  # noqa: S314
    try:
        for event, element in events:
            tag = element.tag.rpartition("}")[2]
            if event == "start":
                if tag == "model":
                    unit = element.attrib.get("unit", "millimeter")
                elif tag == "object":
                    current = element.attrib.get("id", "")
                    triangles, components = objects.get(current, (0, []))
                    objects[current] = (triangles, components)
                continue
            if tag == "triangle" and current is not None:
                triangles, components = objects[current]
                objects[current] = (triangles + 1, components)
            elif tag == "component" and current is not None:
                objects[current][1].append(element.attrib.get("objectid", ""))
            elif tag == "item":
                items.append(element.attrib.get("objectid", ""))
            elif tag == "object":
                current = None
            element.clear()
    except ElementTree.ParseError as exc:
        raise MeshError(f"the 3MF part {name!r} is not well-formed XML: {exc}") from exc
    return unit


_PRECHECKS = {
    "stl": _check_stl,
    "obj": _check_obj,
    "ply": _check_ply,
    "3mf": _check_3mf,
    "glb": _check_glb,
}

# --- specs/04a-mesh-analysis.md §4: loading and combining -------------------------------------

# specs/04a-mesh-analysis.md §4: raw geometry, no processing and no materials at load.
_LOAD_OPTIONS: Mapping[str, Mapping[str, Any]] = {
    "stl": {"process": False},
    "obj": {"process": False, "skip_materials": True},
    "ply": {"process": False},
    "3mf": {"process": False},
    "glb": {"process": False, "skip_materials": True},
}


def _load(data: bytes | bytearray, fmt: str) -> trimesh.Scene:
    try:
        return trimesh.load_scene(io.BytesIO(data), file_type=fmt, **_LOAD_OPTIONS[fmt])
    except MemoryError:
        raise
    except Exception as exc:
        detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise MeshError(f"trimesh cannot read this {fmt.upper()} file: {detail}") from exc


def _instances(scene: trimesh.Scene) -> Iterator[tuple[NDArray[np.float64], trimesh.Trimesh]]:
    # specs/04a-mesh-analysis.md §4: instances in the order of their node names.
    for node in sorted(scene.graph.nodes_geometry, key=str):
        transform, geometry_name = scene.graph[node]
        geometry = scene.geometry.get(geometry_name)
        if isinstance(geometry, trimesh.Trimesh) and len(geometry.faces):
            yield np.asarray(transform, dtype=np.float64), geometry


def _combine(
    scene: trimesh.Scene, limits: MeshLimits
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    placed = list(_instances(scene))
    _check_instances(sum(len(g.faces) for _, g in placed), len(placed), limits)
    if not placed:
        raise MeshError("the file holds no triangles")
    vertex_blocks: list[NDArray[np.float64]] = []
    face_blocks: list[NDArray[np.int64]] = []
    offset = 0
    for transform, geometry in placed:
        vertices = np.asarray(geometry.vertices, dtype=np.float64)
        faces = np.asarray(geometry.faces, dtype=np.int64)
        if faces.min() < 0 or faces.max() >= len(vertices):
            raise MeshError("a face refers to a vertex the file does not define")
        if not np.array_equal(transform, np.eye(4)):
            vertices = trimesh.transformations.transform_points(vertices, transform)
        vertex_blocks.append(vertices)
        face_blocks.append(faces + offset)
        offset += len(vertices)
    all_vertices = np.concatenate(vertex_blocks)
    if not np.isfinite(all_vertices).all():
        raise MeshError("the file has coordinates that are not finite numbers")
    if np.abs(all_vertices).max() > limits.max_coordinate:
        raise MeshError(
            f"the file has coordinates beyond ±{limits.max_coordinate:g} of its own units"
        )
    return all_vertices, np.concatenate(face_blocks)


# --- specs/04a-mesh-analysis.md §5: figures ---------------------------------------------------


def _edge_groups(mesh: trimesh.Trimesh) -> tuple[bool, int]:
    """Watertightness and the number of bodies, from one grouping of the edges.

    As trimesh's `is_watertight` and `split`: watertight when every edge is
    used by exactly two faces; bodies are the connected components of the
    faces joined across edges used by exactly two faces.
    """
    faces = np.asarray(mesh.faces, dtype=np.int64)
    count = len(faces)
    edges = np.sort(faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    keys = edges[:, 0] * np.int64(len(mesh.vertices)) + edges[:, 1]
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    sizes = np.diff(np.r_[starts, len(sorted_keys)])
    watertight = bool((sizes == 2).all())
    pairs = starts[sizes == 2]
    first = order[pairs] // 3
    second = order[pairs + 1] // 3
    graph = coo_matrix(
        (np.ones(len(first), dtype=np.int8), (first, second)), shape=(count, count)
    ).tocsr()
    bodies, _ = connected_components(graph, directed=False)
    return watertight, int(bodies)


@dataclass(frozen=True, slots=True)
class _Hulled:
    """What trimesh's `oriented_bounds` reads of a mesh: only its convex hull."""

    convex_hull: trimesh.Trimesh


def _hull(points: NDArray[np.float64]) -> trimesh.Trimesh:
    """The convex hull exactly as `trimesh.convex.convex_hull` makes it, for less work.

    The same qhull options, vertices, faces in the same order (zero-area faces
    dropped) and windings turned outward from the centroid. trimesh then
    always runs its normal repair, which recomputes the volume; here the
    repair runs only when it could change something: windings that disagree,
    or a volume that is not clearly positive.
    """
    try:
        hull = ConvexHull(points, qhull_options=str(trimesh.convex.QHULL_DEFAULT))
    except QhullError:
        hull = ConvexHull(points, qhull_options="QJ")
    vid = np.sort(hull.vertices)
    mask = np.zeros(len(hull.points), dtype=np.int64)
    mask[vid] = np.arange(len(vid))
    faces = mask[hull.simplices].copy()
    vertices = hull.points[vid].copy()
    crosses = trimesh.triangles.cross(vertices[faces])
    normals, valid = trimesh.util.unitize(crosses, check_valid=True)
    faces, crosses = faces[valid], crosses[valid]
    areas = trimesh.triangles.area(crosses=crosses)  # type: ignore[no-untyped-call]
    centres = vertices[faces].mean(axis=1)
    try:
        centroid = np.average(centres, weights=areas, axis=0)
    except ZeroDivisionError:
        centroid = vertices.mean(axis=0) if len(vertices) else np.zeros(3)
    backwards = trimesh.util.diagonal_dot(normals, centres - centroid) < 0.0
    faces[backwards] = np.fliplr(faces[backwards])
    normals[backwards] *= -1.0
    convex = trimesh.Trimesh(
        vertices=vertices, faces=faces, face_normals=normals, process=True, validate=False
    )
    corners = vertices[convex.faces]
    volume6 = float(np.einsum("ij,ij->", corners[:, 0], np.cross(corners[:, 1], corners[:, 2])))
    scale = float(np.ptp(vertices, axis=0).max()) if len(vertices) else 0.0
    if not convex.is_winding_consistent or not volume6 > 1e-9 * scale**3:
        convex.fix_normals(multibody=False)
    return convex


def _oriented_bounds(
    points: NDArray[np.float64], mesh: trimesh.Trimesh | None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """trimesh's oriented_bounds of the points (of the mesh, when given): transform, extents."""
    target: Any
    try:
        hull = _hull(points)
    except (QhullError, ValueError):
        # Flat or too few points: trimesh's oriented_bounds measures them in their plane.
        target, digits = (mesh if mesh is not None else points), 1
    else:
        target = _Hulled(hull)
        digits = 1 if len(hull.vertices) <= _HULL_FINE_LIMIT else 0
    try:
        to_origin, extents = trimesh.bounds.oriented_bounds(target, angle_digits=digits)  # type: ignore[no-untyped-call]
    except MemoryError:
        raise
    except Exception as exc:
        raise MeshError("no oriented bounding box: the points are degenerate") from exc
    return np.asarray(to_origin, dtype=np.float64), np.asarray(extents, dtype=np.float64)


def _obb_extents(mesh: trimesh.Trimesh) -> NDArray[np.float64]:
    """The oriented box's extents, largest first (specs/04a-mesh-analysis.md §5)."""
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    step = max(1, math.ceil(len(vertices) / _OBB_SAMPLE))
    if step == 1:
        _, extents = _oriented_bounds(vertices, mesh)
    else:
        # The box's orientation from every step-th vertex; its size from all of them.
        to_origin, _ = _oriented_bounds(vertices[::step], None)
        placed = trimesh.transformations.transform_points(vertices, to_origin)
        extents = placed.max(axis=0) - placed.min(axis=0)
    return np.sort(extents)[::-1]


def _mm(value: float, factor: Decimal) -> str:
    exact = _EXACT.multiply(Decimal(float(value)), factor)
    rounded = exact.quantize(_THOUSANDTH, context=_EXACT)
    if rounded.is_zero():
        rounded = abs(rounded)
    return f"{rounded:f}"


def _measure(mesh: trimesh.Trimesh, units: str, file_unit: str | None) -> MeshFigures:
    factor = UNITS[units]
    volume = float(mesh.volume)
    area = float(mesh.area)
    if not (np.isfinite(volume) and np.isfinite(area)):
        raise MeshError("the volume or area is not a finite number")
    watertight, bodies = _edge_groups(mesh)
    degenerate = int(len(mesh.faces) - np.count_nonzero(mesh.nondegenerate_faces()))
    extents = np.asarray(mesh.extents, dtype=np.float64)
    aabb = (_mm(extents[0], factor), _mm(extents[1], factor), _mm(extents[2], factor))
    obb = _obb_extents(mesh)
    return MeshFigures(
        triangles=len(mesh.faces),
        vertices=len(mesh.vertices),
        bodies=bodies,
        degenerate_faces=degenerate,
        watertight=watertight,
        units=units,
        volume_mm3=_mm(volume, factor**3),
        area_mm2=_mm(area, factor**2),
        aabb_mm=aabb,
        obb_mm=(_mm(obb[0], factor), _mm(obb[1], factor), _mm(obb[2], factor)),
        units_verdict=units_verdict(aabb, units, file_unit),
    )
