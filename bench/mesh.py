"""Mesh analysis time per million triangles, beside trimesh's bare load-and-measure.

For each mesh, `registry.mesh.analyse` (the pre-checks, the pinned load,
vertex merging, watertightness, bodies, degenerate faces, volume, area,
axis-aligned and oriented boxes, the units verdict) is timed against the
bare trimesh figure on the same bytes in the same run: `trimesh.load`
with its defaults, then `.volume`, `.area` and `.bounds`. The ratio is
analysis ÷ bare; the target stated in the issue is within 1.5x. The
preview (`registry.thumbnail.render_png`) is timed apart: it is made once
per file, not part of the figures.

Two meshes, both binary STL made here: a mechanical part (the corpus'
switch plate, tiled on a grid: a small convex hull) and a smooth one (an
icosphere: every vertex on the hull, the oriented box's hard case).
FABCOMMONS_BENCH_MESH_TRIANGLES sets the size (default 1,000,000) and
FABCOMMONS_BENCH_MESH_REPEATS the repeats (default 3; the best counts).
"""

from __future__ import annotations

import gc
import io
import math
import os
import platform
import time
from collections.abc import Callable

import numpy as np
import scipy
import trimesh

from node.corpus import corpus_dir
from registry.mesh import analyse, analyse_mesh
from registry.thumbnail import render_png

__all__ = ["run"]

SWITCH_PLATE = corpus_dir() / "designs" / "switch-plate-gopro" / "Switch_Plate_GoPro_Compatible.stl"
TRIANGLES = int(os.environ.get("FABCOMMONS_BENCH_MESH_TRIANGLES", "1000000"))
REPEATS = int(os.environ.get("FABCOMMONS_BENCH_MESH_REPEATS", "3"))
COMMAND = "make bench ARGS=mesh  # = .venv/bin/python -m bench.run mesh"


def _best_of(repeats: int, fn: Callable[[], object]) -> tuple[float, float]:
    """The shortest wall and CPU times of `repeats` calls, GC paused as timeit does."""
    best_wall = best_cpu = float("inf")
    for _ in range(repeats):
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            best_wall = min(best_wall, time.perf_counter() - wall)
            best_cpu = min(best_cpu, time.process_time() - cpu)
        finally:
            if gc_was_enabled:
                gc.enable()
    return best_wall, best_cpu


def _tiled_plate(triangles: int) -> bytes:
    base = trimesh.load(SWITCH_PLATE)
    copies = max(1, round(triangles / len(base.faces)))
    side = math.ceil(math.sqrt(copies))
    offsets = [((i % side) * 100.0, (i // side) * 100.0, 0.0) for i in range(copies)]
    vertices = np.concatenate([base.vertices + o for o in offsets])
    faces = np.concatenate([base.faces + i * len(base.vertices) for i in range(copies)])
    return trimesh.Trimesh(vertices, faces, process=False).export(file_type="stl")


def _sphere(triangles: int) -> bytes:
    # An icosphere of subdivision s has 20 * 4**s faces: the largest within the size.
    subdivisions = max(1, int(math.log(max(triangles, 80) / 20, 4)))
    mesh = trimesh.creation.icosphere(subdivisions=subdivisions, radius=50.0)
    return mesh.export(file_type="stl")


def _bare(data: bytes) -> None:
    mesh = trimesh.load(io.BytesIO(data), file_type="stl")
    _ = (mesh.volume, mesh.area, mesh.bounds)


def _row(name: str, data: bytes) -> list[str]:
    figures = analyse(data, "bench.stl", units="mm")
    _bare(data)  # warm-up of both paths
    n = figures.triangles
    per_million = 1_000_000 / n
    bare_wall, bare_cpu = _best_of(REPEATS, lambda: _bare(data))
    ours_wall, ours_cpu = _best_of(REPEATS, lambda: analyse(data, "bench.stl", units="mm"))
    _, mesh = analyse_mesh(data, "bench.stl", units="mm")
    thumb_wall, _ = _best_of(REPEATS, lambda: render_png(mesh.vertices, mesh.faces))
    unit = "per 10^6 triangles"
    return [
        f"{name}: {n:,} triangles, {len(data) / 2**20:.0f} MiB",
        f"**{ours_wall * per_million:.2f} s** {unit} (CPU {ours_cpu * per_million:.2f} s)",
        f"{bare_wall * per_million:.2f} s {unit} (CPU {bare_cpu * per_million:.2f} s)",
        f"**{ours_wall / bare_wall:.2f}** (CPU {ours_cpu / bare_cpu:.2f})",
        f"{thumb_wall:.2f} s",
    ]


def run() -> str:
    """Measure mesh analysis and return the figures as a Markdown section."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    rows = [
        _row("mechanical (switch plate tiled)", _tiled_plate(TRIANGLES)),
        _row("smooth (icosphere)", _sphere(TRIANGLES)),
    ]
    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        "## Mesh analysis: figures of a model file beside trimesh's bare load-and-measure",
        "",
        "| mesh | `registry.mesh.analyse` | bare trimesh: load + volume + area + bounds "
        "(the limit) | ratio | 256x256 preview |",
        "| --- | --- | --- | --- | --- |",
        *(f"| {' | '.join(r)} |" for r in rows),
        "",
        "ratio = analysis time ÷ bare time on the same bytes (target: within 1.5x). Best of "
        f"{REPEATS} after a warm-up, GC paused; wall time (`time.perf_counter`) and CPU time "
        "(`time.process_time`, steadier on a shared machine). Both read a binary STL from "
        "memory; the analysis also checks the header, merges vertices, groups edges for "
        "watertightness and bodies, finds degenerate faces, the convex hull and the "
        "oriented box, and converts every figure to exact decimals.",
        f"trimesh {trimesh.__version__}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"CPython {platform.python_version()}. Load average (1 min) at start and end: "
        f"{load:.1f}, {load_end:.1f}.",
        "",
        f"Command: `{COMMAND}`",
    ]
    return "\n".join(lines) + "\n"
