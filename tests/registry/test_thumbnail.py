"""registry.thumbnail: valid PNGs, decoded with zlib and struct (RFC 2083), showing the part.

The decoder (tests/support/pngcheck.py) is written from the PNG
specification, checks every chunk's CRC and undoes all five row filters,
so it does not trust the encoder's choice of filter.
"""

from __future__ import annotations

import math
import time

import numpy as np
from pngcheck import decode_png

from node.corpus import corpus_dir
from registry.mesh import analyse_mesh
from registry.thumbnail import ThumbnailStyle, render_png

CORPUS = corpus_dir()
SWITCH_PLATE = CORPUS / "designs" / "switch-plate-gopro" / "Switch_Plate_GoPro_Compatible.stl"


def cube(size: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    v = np.array([(i, j, k) for i in (0, 1) for j in (0, 1) for k in (0, 1)], float) * size
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    f = [t for a, b, c, d in quads for t in ((a, b, c), (a, c, d))]
    return v, np.array(f, dtype=np.int64)


def test_cube_thumbnail_is_a_valid_png_with_the_part_in_the_middle() -> None:
    png = render_png(*cube())
    image = decode_png(png)
    assert image.shape == (256, 256, 4)
    alpha = image[:, :, 3]
    assert alpha[0, 0] == 0
    assert alpha[-1, -1] == 0
    ys, xs = np.nonzero(alpha)
    # Seen along (1, -1, 1), a 10 mm cube spans 10·√2 across and 40/√6 up: the
    # taller span fills the frame less an 8-pixel margin, both are centred.
    half_width = 120 * (10 * math.sqrt(2)) / (40 / math.sqrt(6))
    assert abs(xs.min() - (128 - half_width)) <= 2
    assert abs(xs.max() + 1 - (128 + half_width)) <= 2
    assert abs(ys.min() - 8) <= 2
    assert abs(ys.max() + 1 - 248) <= 2
    assert alpha[128, 128] == 255
    # An isometric cube shows three faces in three distinct shades.
    opaque = image[alpha == 255][:, :3]
    shades = {tuple(c) for c in opaque}
    assert len(shades) >= 3


def test_the_same_mesh_gives_the_same_bytes() -> None:
    _, mesh = analyse_mesh(SWITCH_PLATE.read_bytes(), SWITCH_PLATE.name, units="mm")
    first = render_png(mesh.vertices, mesh.faces)
    second = render_png(mesh.vertices.copy(), mesh.faces.copy())
    assert first == second
    image = decode_png(first)
    assert (image[:, :, 3] > 0).mean() > 0.2  # the plate covers a good part of the frame


def test_huge_meshes_are_decimated_and_stay_fast() -> None:
    rng = np.random.default_rng(7)
    count = 200_000
    vertices = rng.uniform(0, 100, size=(count * 3, 3))
    faces = np.arange(count * 3, dtype=np.int64).reshape(-1, 3)
    started = time.perf_counter()
    png = render_png(vertices, faces, ThumbnailStyle(max_faces=20_000, max_candidates=2_000_000))
    assert time.perf_counter() - started < 20
    assert (decode_png(png)[:, :, 3] > 0).any()


def test_a_flat_or_empty_view_still_renders() -> None:
    vertices = np.array([[0, 0, 0], [0, 0, 0], [0, 0, 0]], float)
    image = decode_png(render_png(vertices, np.array([[0, 1, 2]])))
    assert image.shape == (256, 256, 4)
    assert not image[:, :, 3].any()
