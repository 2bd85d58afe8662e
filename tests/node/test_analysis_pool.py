"""The analysis worker pool: time and memory limits kill a worker, never the node.

Each test drives node.analysis.AnalysisPool directly (no app) with real
worker processes. A big random triangle soup (written with numpy and
struct here) is the file that needs too much time or memory; the unit cube
of the corpus is the file that must still work afterwards.
"""

from __future__ import annotations

import asyncio
import os
import signal
import struct
from pathlib import Path

import numpy as np
import pytest

from node.analysis import AnalysisLimitExceeded, AnalysisLimits, AnalysisPool
from node.corpus import corpus_dir
from registry.figures import MeshError

CUBE = corpus_dir() / "meshes" / "unit_cube.STL"


def soup(triangles: int, seed: int = 1) -> bytes:
    """A binary STL of random triangles: slow to hull, heavy to merge."""
    rng = np.random.default_rng(seed)
    records = np.zeros(triangles, dtype=[("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")])
    records["v"] = rng.uniform(-50, 50, size=(triangles, 3, 3)).astype(np.float32)
    return b"random soup".ljust(80, b" ") + struct.pack("<I", triangles) + records.tobytes()


async def analyse_cube(pool: AnalysisPool) -> None:
    result = await pool.analyse(filename="cube.stl", units="mm", data=CUBE.read_bytes())
    assert result.figures.triangles == 12
    assert result.figures.volume_mm3 == "1.000"


async def test_a_worker_past_its_time_is_killed_and_replaced() -> None:
    pool = AnalysisPool(AnalysisLimits(timeout_s=0.3))
    try:
        await analyse_cube(pool)
        before = pool.pids
        with pytest.raises(AnalysisLimitExceeded, match=r"longer than the limit of 0\.3 s"):
            await pool.analyse(filename="soup.stl", units="mm", data=soup(300_000))
        assert pool.pids == []  # killed
        for pid in before:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
        await analyse_cube(pool)  # a fresh worker answers
        assert pool.pids
        assert pool.pids != before
    finally:
        await pool.close()


async def test_a_worker_past_its_memory_is_replaced() -> None:
    pool = AnalysisPool(AnalysisLimits(memory_bytes=48 * 1024 * 1024, timeout_s=120))
    try:
        await analyse_cube(pool)
        with pytest.raises(AnalysisLimitExceeded) as caught:
            await pool.analyse(filename="soup.stl", units="mm", data=soup(400_000))
        assert "more memory than the limit of 48 MiB" in caught.value.reason
        await analyse_cube(pool)
    finally:
        await pool.close()


async def test_a_worker_killed_from_outside_is_reported_and_replaced() -> None:
    pool = AnalysisPool(AnalysisLimits(timeout_s=120))
    try:
        await analyse_cube(pool)
        (pid,) = pool.pids
        busy = asyncio.create_task(
            pool.analyse(filename="soup.stl", units="mm", data=soup(300_000))
        )
        await asyncio.sleep(0.5)
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(AnalysisLimitExceeded, match="stopped"):
            await busy
        await analyse_cube(pool)
        assert pool.pids != [pid]
    finally:
        await pool.close()


async def test_refusals_come_back_as_mesh_errors_and_the_worker_stays() -> None:
    pool = AnalysisPool(AnalysisLimits())
    try:
        await analyse_cube(pool)
        pids = pool.pids
        with pytest.raises(MeshError, match="truncated"):
            await pool.analyse(filename="bad.stl", units="mm", data=CUBE.read_bytes()[:-7])
        with pytest.raises(MeshError, match="unknown model format"):
            await pool.analyse(filename="bad.step", units="mm", data=b"x")
        assert pool.pids == pids  # the same worker, still alive
        await analyse_cube(pool)
    finally:
        await pool.close()


async def test_input_over_the_limit_is_refused_before_a_worker_sees_it() -> None:
    pool = AnalysisPool(AnalysisLimits(max_input_bytes=500))
    try:
        with pytest.raises(MeshError, match="more than the limit 500"):
            await pool.analyse(filename="cube.stl", units="mm", data=CUBE.read_bytes())
        assert pool.pids == []  # no worker was started for it
    finally:
        await pool.close()


async def test_thumbnails_come_back_from_the_worker(tmp_path: Path) -> None:
    path = tmp_path / "cube.stl"
    path.write_bytes(CUBE.read_bytes())
    pool = AnalysisPool(AnalysisLimits())
    try:
        result = await pool.analyse(filename="cube.stl", units="inch", path=path, thumbnail=True)
        assert result.thumbnail is not None
        assert result.thumbnail.startswith(b"\x89PNG\r\n\x1a\n")
        assert result.figures.volume_mm3 == "16387.064"  # 1 in³ = 25.4³ mm³
        assert result.analyser["name"] == "fabcommons"
    finally:
        await pool.close()
