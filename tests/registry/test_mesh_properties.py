"""Properties of registry.mesh: determinism, exact unit scaling, and the units verdict.

Meshes here are boxes (and random triangle soups) written as binary STL
with struct, so every expected figure is worked out by hand in exact
rational arithmetic (fractions.Fraction) and rounded half-even here, not
by the code under test.
"""

from __future__ import annotations

import io
import struct
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
import trimesh
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.figures import units_verdict
from registry.mesh import MeshError, MeshFigures, analyse

FACTORS = {"mm": Fraction(1), "inch": Fraction(254, 10), "m": Fraction(1000)}


def stl(triangles: list[tuple[tuple[float, float, float], ...]]) -> bytes:
    body = b"".join(
        struct.pack("<3f", 0, 0, 0) + b"".join(struct.pack("<3f", *v) for v in tri) + b"\0\0"
        for tri in triangles
    )
    return b"hypothesis box".ljust(80, b" ") + struct.pack("<I", len(triangles)) + body


def box(x: float, y: float, z: float, dx: float, dy: float, dz: float) -> bytes:
    """An axis-aligned box, outward-facing, 12 triangles."""
    c = [(x + i * dx, y + j * dy, z + k * dz) for i in (0, 1) for j in (0, 1) for k in (0, 1)]
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    tris = []
    for a, b, cc, d in quads:
        tris += [(c[a], c[b], c[cc]), (c[a], c[cc], c[d])]
    return stl(tris)


def rounded(value: Fraction) -> str:
    """Round half-even to 3 decimals, by hand."""
    scaled = value * 1000
    floor = scaled.numerator // scaled.denominator
    rest = scaled - floor
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and floor % 2 == 1):
        floor += 1
    sign = "-" if floor < 0 else ""
    whole, frac = divmod(abs(floor), 1000)
    return f"{sign}{whole}.{frac:03d}"


def test_rounded_is_half_even() -> None:
    assert rounded(Fraction(25, 10000)) == "0.002"
    assert rounded(Fraction(35, 10000)) == "0.004"
    assert rounded(Fraction(3175, 1000)) == "3.175"


# Multiples of 1/8 are exact in float32, so the file holds exactly these numbers.
eighths = st.integers(min_value=1, max_value=8 * 400).map(lambda n: Fraction(n, 8))
offsets = st.integers(min_value=-8 * 400, max_value=8 * 400).map(lambda n: Fraction(n, 8))


@settings(max_examples=40, deadline=None)
@given(
    st.tuples(eighths, eighths, eighths),
    st.tuples(offsets, offsets, offsets),
    st.sampled_from(["mm", "inch", "m"]),
)
def test_box_figures_are_exact_in_every_unit(
    size: tuple[Fraction, Fraction, Fraction],
    origin: tuple[Fraction, Fraction, Fraction],
    units: str,
) -> None:
    dx, dy, dz = size
    data = box(*(float(v) for v in origin), float(dx), float(dy), float(dz))
    figures = analyse(data, "box.stl", units=units)
    f = FACTORS[units]
    assert figures.triangles == 12
    assert figures.vertices == 8
    assert figures.bodies == 1
    assert figures.watertight is True
    assert figures.degenerate_faces == 0
    assert figures.volume_mm3 == rounded(dx * dy * dz * f**3)
    assert figures.area_mm2 == rounded(2 * (dx * dy + dy * dz + dz * dx) * f**2)
    assert figures.aabb_mm == tuple(rounded(v * f) for v in size)
    assert figures.obb_mm == tuple(rounded(v * f) for v in sorted(size, reverse=True))


coordinates = st.floats(min_value=-1000, max_value=1000, allow_nan=False, width=32)
vertex = st.tuples(coordinates, coordinates, coordinates)
soups = st.lists(st.tuples(vertex, vertex, vertex), min_size=1, max_size=40)


@settings(max_examples=30, deadline=None)
@given(soups)
def test_analysis_is_deterministic_for_the_same_bytes(
    triangles: list[tuple[tuple[float, float, float], ...]],
) -> None:
    data = stl(triangles)
    try:
        first = analyse(data, "soup.stl", units="mm")
    except MeshError:  # a soup may be too flat for a box: then the same refusal again
        with pytest.raises(MeshError):
            analyse(bytes(data), "soup.stl", units="mm")
        return
    again = analyse(bytes(data), "soup.stl", units="mm")
    assert again == first
    assert MeshFigures.from_dict(first.to_dict()) == first
    # Scaling by the unit is exact: inches are the same numbers times 25.4, rounded once.
    inch = analyse(data, "soup.stl", units="inch")
    for ours, base in zip(inch.aabb_mm, first.aabb_mm, strict=True):
        assert abs(Decimal(ours) - Decimal(base) * Decimal("25.4")) <= Decimal("0.0128")


VERDICTS = [
    # aabb (mm), declared, plausible, suggested, words in the reason
    (("0.040", "0.010", "0.020"), "mm", False, "m", "read as m it is 40.000 mm"),
    (("0.044", "0.014", "0.047"), "mm", False, "m", "below 2 mm"),
    (("1.339", "1.000", "1.352"), "mm", False, "inch", "read as inch it is 34.341 mm"),
    (("8.000", "12.000", "0.500"), "mm", False, "inch", "203.200 x 304.800 x 12.700"),
    (("2.656", "2.953", "0.625"), "mm", False, "inch", "multiple of 1/64"),
    (("20.000", "20.000", "20.000"), "mm", True, None, "within"),
    (("88.884", "88.892", "29.234"), "mm", True, None, "within"),
    (("12.300", "45.600", "7.800"), "mm", True, None, "within"),
    (("60.000", "12.000", "0.500"), "mm", True, None, "within"),  # above 50 mm
    # 203.2 x 304.8 x 12.7 in a file declared in inches: 25.4 times that in mm.
    (("5161.280", "7741.920", "322.580"), "inch", False, "mm", "read as mm it is 304.800 mm"),
    (("4572.000", "304.800", "2438.400"), "mm", True, None, "within"),
    (("20000.000", "10.000", "10.000"), "m", False, "mm", "read as mm it is 20.000 mm"),
    (("0.000", "0.000", "0.000"), "mm", False, None, "no extent"),
    (("0.001", "0.001", "0.001"), "mm", False, None, "below 2 mm"),
]


@pytest.mark.parametrize(
    ("aabb", "units", "plausible", "suggested", "words"),
    VERDICTS,
    ids=[f"{'x'.join(v[0])}-{v[1]}" for v in VERDICTS],
)
def test_units_verdict_table(
    aabb: tuple[str, str, str], units: str, plausible: bool, suggested: str | None, words: str
) -> None:
    verdict = units_verdict(aabb, units)
    assert verdict.plausible is plausible
    assert verdict.suggested == suggested
    assert words in verdict.reason


def test_a_3mf_unit_overrides_the_size_rules() -> None:
    verdict = units_verdict(("20.000", "20.000", "20.000"), "mm", "inch")
    assert (verdict.plausible, verdict.suggested) == (False, "inch")
    verdict = units_verdict(("20.000", "20.000", "20.000"), "mm", "centimeter")
    assert (verdict.plausible, verdict.suggested) == (False, None)
    assert units_verdict(("20.000", "20.000", "20.000"), "mm", "millimeter").plausible


@settings(max_examples=40, deadline=None)
@given(soups)
def test_oriented_box_is_trimeshs(triangles: list[tuple[tuple[float, float, float], ...]]) -> None:
    """registry.mesh builds the hull itself (for speed); the box must be trimesh's own."""
    data = stl(triangles)
    try:
        figures = analyse(data, "soup.stl", units="mm")
    except MeshError:
        return
    raw = trimesh.load(io.BytesIO(data), file_type="stl", process=False)
    mesh = trimesh.Trimesh(vertices=raw.vertices, faces=raw.faces, process=True)
    with np.errstate(divide="ignore", invalid="ignore"):  # flat soups: trimesh divides by 0
        expected = sorted(mesh.bounding_box_oriented.primitive.extents, reverse=True)
    for ours, theirs in zip(figures.obb_mm, expected, strict=True):
        exact = Fraction(theirs)
        assert abs(Fraction(Decimal(ours)) - exact) <= Fraction(1, 2000) + abs(exact) / 10**9


def test_a_large_smooth_mesh_gets_a_true_tight_box_quickly() -> None:
    """Over 20,000 vertices the box is oriented from a sample and sized on every vertex."""
    sphere = trimesh.creation.icosphere(subdivisions=6, radius=50.0)  # 40,962 vertices
    data = sphere.export(file_type="stl")
    figures = analyse(data, "sphere.stl", units="mm")
    assert figures.vertices == len(sphere.vertices)
    obb = [Decimal(x) for x in figures.obb_mm]
    # A ball of radius 50 needs a box of 100 on every side; the icosphere's
    # vertices lie on the ball, so no side is above 100 or much below it.
    assert all(Decimal("99.5") <= x <= Decimal("100.000") for x in obb), obb
    # The box holds every vertex: no vertex is farther than the half-diagonal.
    half_diagonal = (sum(x * x for x in obb) ** Decimal("0.5")) / 2
    assert float(half_diagonal) >= float(np.linalg.norm(sphere.vertices, axis=1).max()) - 1e-3
