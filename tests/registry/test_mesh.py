"""registry.mesh on real files: every corpus mesh gives trimesh's own figures, or a clear refusal.

The expected figures are computed here with trimesh directly, following
specs/04a-mesh-analysis.md §4-§5 (load with the pinned options, trimesh's
own `Scene.to_mesh()` to combine, `Trimesh(..., process=True)` to merge
vertices) and trimesh's own properties (`volume`, `area`, `extents`,
`is_watertight`, `split`, `nondegenerate_faces`, `bounding_box_oriented`).
Lengths are compared after the unit conversion, within half a thousandth
(the rounding of the decimal strings) plus 1e-9 relative (the order in
which a scene's meshes are summed).
"""

from __future__ import annotations

import io
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import trimesh

from node.corpus import corpus_dir
from registry.mesh import MeshError, MeshFigures, analyse

CORPUS = corpus_dir()
MESHES = CORPUS / "meshes"
SWITCH_PLATE = CORPUS / "designs" / "switch-plate-gopro" / "Switch_Plate_GoPro_Compatible.stl"

FIGURES = "figures"
# Every file of the corpus, and what analysing it must give, with why.
EXPECTED: dict[str, tuple[str, str]] = {
    "1002_tray_bottom.STL": (FIGURES, "a real part, binary STL"),
    "20mm-xyz-cube.stl": (FIGURES, "the calibration cube, binary STL"),
    "7_8ths_cube.stl": (FIGURES, "a cube with one corner cut, binary STL"),
    "ADIS16480.STL": (FIGURES, "a part in metres; the verdict suggests m"),
    "Duck.glb": (FIGURES, "a textured glTF binary; geometry only"),
    "P_XPM_0331_01.3mf": (FIGURES, "a 3MF with a texture, two degenerate faces"),
    "angle_block.STL": (FIGURES, "a part in inches; the verdict suggests inch"),
    "box.STL": (FIGURES, "ten bodies in one binary STL"),
    "busted.STL": (FIGURES, "a 'troublemaker' that trimesh still reads as a closed mesh"),
    "counterX.3MF": (FIGURES, "a 3MF with a thumbnail part"),
    "cylinder.stl": (FIGURES, "a cylinder, binary STL"),
    "empty.stl": ("the ASCII STL holds no triangles", "'solid Empty' then 'endsolid'"),
    "featuretype.STL": (FIGURES, "a part in inches (fractions of an inch)"),
    "fuze.obj": (FIGURES, "an OBJ whose texture files are absent; geometry only"),
    "idler_riser.STL": (FIGURES, "a part in inches"),
    "large_block.STL": (FIGURES, "a 4.5 m block, still plausible in mm"),
    "multibody.stl": (FIGURES, "an ASCII STL with two solids"),
    "not_convex.obj": (FIGURES, "an OBJ, open, ten bodies"),
    "notenoughindices.obj": (FIGURES, "trimesh keeps the one complete face, drops the other"),
    "octagonal_pocket.stl": (FIGURES, "a part in metres"),
    "origin_inside.STL": (FIGURES, "a small cube with a pocket"),
    "plate_holes.STL": (FIGURES, "8 x 12 x 0.5 inches exported in mm"),
    "pyramids.3mf": (FIGURES, "a 3MF build of twelve instances"),
    "round.stl": (FIGURES, "a turned part"),
    "soup.stl": (FIGURES, "a triangle soup: every face its own body"),
    "sphere.ply": (FIGURES, "a PLY icosphere"),
    "stl_empty_bin.stl": ("the binary STL holds no triangles", "a header declaring 0"),
    "teapot.stl": (FIGURES, "the teapot, open"),
    "torus.STL": (FIGURES, "a torus"),
    "two_objects.obj": (FIGURES, "an OBJ with two objects"),
    "unit_cube.STL": (FIGURES, "a 1 mm cube; the verdict suggests inch"),
    "wallhole.obj": (FIGURES, "an OBJ with degenerate faces"),
}

_LOAD = {"obj": {"skip_materials": True}, "glb": {"skip_materials": True}}


def corpus_files() -> list[Path]:
    return [*sorted(MESHES.iterdir()), SWITCH_PLATE]


def test_the_table_names_every_corpus_file() -> None:
    assert {p.name for p in MESHES.iterdir()} == set(EXPECTED)


def trimesh_figures(data: bytes, name: str) -> dict[str, object]:
    """The figures trimesh itself gives for these bytes (spec §4-§5 procedure)."""
    fmt = name.rsplit(".", 1)[1].lower()
    scene = trimesh.load_scene(io.BytesIO(data), file_type=fmt, process=False, **_LOAD.get(fmt, {}))
    # Textures are not geometry (and copying them needs Pillow): plain meshes in their place.
    for key, geometry in list(scene.geometry.items()):
        scene.geometry[key] = trimesh.Trimesh(geometry.vertices, geometry.faces, process=False)
    combined = scene.to_mesh()
    mesh = trimesh.Trimesh(vertices=combined.vertices, faces=combined.faces, process=True)
    # The spec's fine OBB search applies to hulls of at most 4096 vertices (a
    # flat part has no hull; trimesh then measures it in its plane).
    assert len(mesh.vertices) <= 4096 or len(mesh.convex_hull.vertices) <= 4096
    with np.errstate(divide="ignore", invalid="ignore"):
        volume = mesh.volume
    return {
        "triangles": len(mesh.faces),
        "vertices": len(mesh.vertices),
        "bodies": len(mesh.split(only_watertight=False)),
        "degenerate_faces": int((~mesh.nondegenerate_faces()).sum()),
        "watertight": mesh.is_watertight,
        "volume": volume,
        "area": mesh.area,
        "extents": list(mesh.extents),
        "obb": sorted(mesh.bounding_box_oriented.primitive.extents, reverse=True),
    }


def assert_close(ours: str, theirs: float, scale: Fraction) -> None:
    exact = Fraction(theirs) * scale
    assert abs(Fraction(Decimal(ours)) - exact) <= Fraction(1, 2000) + abs(exact) / 10**9, (
        ours,
        float(exact),
    )


def assert_trimesh_figures(figures: MeshFigures, expected: dict[str, object], units: str) -> None:
    factor = {"mm": Fraction(1), "inch": Fraction(254, 10), "m": Fraction(1000)}[units]
    for name in ("triangles", "vertices", "bodies", "degenerate_faces", "watertight"):
        assert getattr(figures, name) == expected[name], name
    assert figures.units == units
    assert_close(figures.volume_mm3, expected["volume"], factor**3)  # type: ignore[arg-type]
    assert_close(figures.area_mm2, expected["area"], factor**2)  # type: ignore[arg-type]
    for ours, theirs in zip(figures.aabb_mm, expected["extents"], strict=True):  # type: ignore[call-overload]
        assert_close(ours, theirs, factor)
    for ours, theirs in zip(figures.obb_mm, expected["obb"], strict=True):  # type: ignore[call-overload]
        assert_close(ours, theirs, factor)


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name)
def test_corpus_file_gives_trimesh_figures_or_a_clear_refusal(path: Path) -> None:
    data = path.read_bytes()
    expectation, _why = EXPECTED.get(path.name, (FIGURES, "the switch plate design"))
    if expectation != FIGURES:
        with pytest.raises(MeshError) as caught:
            analyse(data, path.name, units="mm")
        assert expectation in caught.value.reason
        return
    expected = trimesh_figures(data, path.name)
    for units in ("mm", "inch"):
        assert_trimesh_figures(analyse(data, path.name, units=units), expected, units)


@pytest.mark.parametrize(
    "name", ["unit_cube.STL", "20mm-xyz-cube.stl", "plate_holes.STL", "teapot.stl", "sphere.ply"]
)
def test_volume_area_and_bounds_match_trimesh_default_load(name: str) -> None:
    """Against the plainest use of trimesh: `trimesh.load(path)`, defaults and all."""
    mesh = trimesh.load(MESHES / name)
    figures = analyse((MESHES / name).read_bytes(), name, units="mm")
    assert_close(figures.volume_mm3, mesh.volume, Fraction(1))
    assert_close(figures.area_mm2, mesh.area, Fraction(1))
    for ours, theirs in zip(figures.aabb_mm, mesh.extents, strict=True):
        assert_close(ours, theirs, Fraction(1))
    assert figures.triangles == len(mesh.faces)
    assert figures.vertices == len(mesh.vertices)
    assert figures.watertight == mesh.is_watertight


def test_switch_plate_figures_match_its_published_description() -> None:
    """corpus/README.md: 3,792 triangles, watertight, about 89 x 89 x 29 mm."""
    figures = analyse(SWITCH_PLATE.read_bytes(), SWITCH_PLATE.name, units="mm")
    assert figures.triangles == 3792
    assert figures.watertight is True
    assert [round(float(x)) for x in sorted(figures.aabb_mm, key=float)] == [29, 89, 89]
    assert figures.units_verdict.plausible is True
    assert figures.units_verdict.suggested is None


@pytest.mark.parametrize(
    ("name", "suggested"),
    [
        ("ADIS16480.STL", "m"),  # 0.044 wide
        ("octagonal_pocket.stl", "m"),  # 0.2286 = 9 inches, in metres
        ("angle_block.STL", "inch"),
        ("idler_riser.STL", "inch"),
        ("featuretype.STL", "inch"),
        ("box.STL", "inch"),
        ("plate_holes.STL", None),
        ("20mm-xyz-cube.stl", None),
        ("1002_tray_bottom.STL", None),
    ],
)
def test_units_verdicts_on_real_parts(name: str, suggested: str | None) -> None:
    figures = analyse((MESHES / name).read_bytes(), name, units="mm")
    assert figures.units_verdict.suggested == suggested
    assert figures.units_verdict.plausible is (suggested is None)
    assert figures.units_verdict.reason


def test_figures_round_trip_through_their_dict() -> None:
    figures = analyse(SWITCH_PLATE.read_bytes(), SWITCH_PLATE.name, units="mm")
    data = figures.to_dict()
    assert MeshFigures.from_dict(data) == figures
    assert data["units_verdict"] == {
        "plausible": figures.units_verdict["plausible"],
        "suggested": figures.units_verdict["suggested"],
        "reason": figures.units_verdict["reason"],
    }
