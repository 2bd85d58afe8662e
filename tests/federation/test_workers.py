"""Sync's leaf-opening worker processes (node/federation/workers.py).

The pool must answer exactly what `protocol.signing.check_leaves` answers in
this process, whatever happens to its workers: one killed mid-use is
replaced, none startable means the work is done here, and no worker outlives
its node, even a node killed with SIGKILL (their stdin closes with it).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from node.federation.workers import CHUNK_LEAVES, LeafWorkers
from protocol.keys import AgentKey
from protocol.records import Record
from protocol.signing import check_leaves, leaf_bytes, sign

KEY = AgentKey.from_seed(hashlib.sha256(b"workers/author").digest())


def _leaves(count: int) -> list[bytes]:
    out = []
    for i in range(count):
        record = Record(
            type="member.profile",
            author=KEY.did,
            created="2025-04-01T08:00:00Z",
            body={"display_name": f"Worker test {i}"},
        )
        leaf = leaf_bytes(sign(record, KEY))
        if i % 97 == 5:
            leaf = leaf.replace(b"Worker test", b"Worker TEST")  # signature no longer holds
        out.append(leaf)
    return out


LEAVES = _leaves(2 * CHUNK_LEAVES + 130)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too: it only waits for its parent to read its status.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
async def pool() -> AsyncIterator[LeafWorkers]:
    workers = LeafWorkers(2)
    yield workers
    await workers.close()


async def test_answers_what_check_leaves_answers_in_process(pool: LeafWorkers) -> None:
    expected = check_leaves(LEAVES)
    assert sum(r is None for r in expected) == len(range(5, len(LEAVES), 97))
    assert await pool.check(LEAVES) == expected
    pids = pool.pids
    assert len(pids) == 2
    assert os.getpid() not in pids
    # Several batches at once share the workers and keep their order.
    first, second = await asyncio.gather(pool.check(LEAVES[:700]), pool.check(LEAVES[700:]))
    assert first + second == expected
    assert pool.pids == pids


async def test_close_stops_every_worker(pool: LeafWorkers) -> None:
    await pool.check(LEAVES[:10])
    pids = pool.pids
    await pool.close()
    assert pool.pids == []
    assert not any(_alive(pid) for pid in pids)
    # A closed pool still answers, in this process.
    assert await pool.check(LEAVES[:3]) == check_leaves(LEAVES[:3])


async def test_a_killed_worker_is_replaced(pool: LeafWorkers) -> None:
    await pool.check(LEAVES[:10])
    victim = pool.pids[0]
    os.kill(victim, signal.SIGKILL)
    assert await pool.check(LEAVES) == check_leaves(LEAVES)
    for _ in range(100):
        if len(pool.pids) == 2:
            break
        await asyncio.sleep(0.05)
    assert len(pool.pids) == 2
    assert victim not in pool.pids


async def test_no_startable_worker_means_the_work_is_done_here(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
    workers = LeafWorkers(2)
    try:
        assert await workers.check(LEAVES[:800]) == check_leaves(LEAVES[:800])
        assert workers.pids == []
    finally:
        await workers.close()


_PARENT = textwrap.dedent(
    """
    import asyncio, sys
    from node.federation.workers import LeafWorkers
    async def main():
        pool = LeafWorkers(2)
        pool.warm_up()
        while len(pool.pids) < 2:
            await asyncio.sleep(0.05)
        print(*pool.pids, flush=True)
        await asyncio.sleep(600)
    asyncio.run(main())
    """
)


def test_workers_die_with_a_node_killed_by_sigkill() -> None:
    parent = subprocess.Popen([sys.executable, "-c", _PARENT], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 2
        assert all(_alive(pid) for pid in pids)
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in pids)
