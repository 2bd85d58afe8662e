"""A node restored from a backup catches its own log up from a peer's mirror before appending.

specs/03-federation.md §3.9. A is backed up at size s1, appends on to s2,
which B mirrors, and is then restored from the backup. Appending from s1
would sign a second log under A's key (B would hold evidence that A
equivocates), so A must first copy entries s1..s2 back from B's mirror,
verified, or not start at all. A checkpoint of A's log that A's key did
not sign proves nothing and must not stop A.

Real `fabcommons serve`, `backup` and `log recover` processes; expected
leaves and roots are the ones A served before the restore, file hashes are
computed with hashlib (tests/support/designkit.py).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from designkit import analysed, check_served, files_available, publish_switch_plate
from fabnodes import run_cli_async
from fednet import (
    FedNet,
    FedNode,
    ServeFailed,
    federate,
    open_note,
    post_profiles,
    query_db,
    tree_root,
    wait_for,
)

from protocol.checkpoint import Checkpoint, sign_checkpoint
from protocol.keys import AgentKey

pytestmark = pytest.mark.slow


async def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI awaited (the stand-in peer shares this event loop), as subprocess.run reports."""
    code, out, err = await run_cli_async(*args)
    return subprocess.CompletedProcess(args, code, out, err)


def stored_size(node: FedNode) -> int:
    rows = query_db(node.db_path, "SELECT size FROM logs WHERE did = ?", (node.did,))
    return int(rows[0][0])


async def b_has_a_at(a: FedNode, b: FedNode, size: int) -> None:
    async def probe() -> bool:
        await b.sync(a.did)
        return (await b.peers())[a.did]["verified_size"] == size

    await wait_for(probe, f"B to verify A at size {size}")


@dataclass
class Restored:
    """A restored from a backup at size s1 (stopped), B holding A's log at len(leaves)."""

    a: FedNode
    b: FedNode
    member: AgentKey
    s1: int
    leaves: list[bytes]  # A's leaves before the restore
    mirror_note: bytes  # B's mirror of A's checkpoint at len(leaves)
    design_id: str  # published at A after the backup
    hashes: dict[str, str]  # its files: name -> sha256 hex


async def backed_up_then_grown(fednet: FedNet) -> Restored:
    """A and B federated; A backed up at s1, then grown by profiles and a design (with its
    files and A's analysis of it), which B verified and fetched; A restored and stopped."""
    a, b = fednet.node("A"), fednet.node("B")
    await a.start()
    await b.start()
    await federate([a, b])
    member = AgentKey.generate()
    await a.admit(member.did)
    await post_profiles(a, [member], 4, tag="before")
    s1 = (await open_note(a, None, a)).checkpoint.size
    backup = fednet.root / "A-backup"
    done = await run_cli("backup", "--data", str(a.path), "--out", str(backup))
    assert done.returncode == 0, done.stderr
    await post_profiles(a, [member], 5, tag="after")
    design_id, hashes = await publish_switch_plate(a, member)
    await wait_for(lambda: analysed(a, design_id), "A to analyse its design", timeout_s=60)
    s2 = (await open_note(a, None, a)).checkpoint.size
    assert s2 == s1 + 7  # 5 profiles, the design, its analysis
    await b_has_a_at(a, b, s2)
    await wait_for(lambda: files_available(b, design_id), "B to fetch the design's files")
    leaves = await a.leaves(s2)
    mirror_note = await b.checkpoint(a.did)
    a.stop()
    shutil.move(a.path, fednet.root / "A-broken")
    shutil.copytree(backup, a.path)
    assert stored_size(a) == s1
    for sha in hashes.values():
        assert not (a.path / "blobs" / "sha256" / sha[:2] / sha[2:]).exists()
    return Restored(a, b, member, s1, leaves, mirror_note, design_id, hashes)


@asynccontextmanager
async def only_checkpoint_at(
    port: int, did: str, note: bytes
) -> AsyncIterator[Callable[[], list[str]]]:
    """A stand-in on B's port: serves `note` as its mirror of log `did`, 503 for all else."""
    seen: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.path)
        if request.path == f"/fed/v1/logs/{did}/checkpoint":
            return web.Response(body=note, content_type="text/plain")
        return web.Response(status=503, text="down")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield lambda: seen
    finally:
        await runner.cleanup()


async def test_restored_node_recovers_its_log_from_a_mirror_before_appending(
    fednet: FedNet,
) -> None:
    r = await backed_up_then_grown(fednet)
    a, b, member, s1, leaves = r.a, r.b, r.member, r.s1, r.leaves
    b.stop()

    # A checkpoint of A's log signed by another key (same origin, larger) is no proof.
    forger = AgentKey.generate()
    forged = sign_checkpoint(Checkpoint(a.origin, len(leaves) + 100, b"\x07" * 32), forger)
    async with only_checkpoint_at(b.port, a.did, forged) as seen:
        await a.start()
        assert f"/fed/v1/logs/{a.did}/checkpoint" in seen()
    assert (await open_note(a, None, a)).checkpoint.size == s1
    a.stop()

    # A genuine, larger checkpoint whose entries cannot be fetched: A must not start.
    async with only_checkpoint_at(b.port, a.did, r.mirror_note):
        with pytest.raises(ServeFailed) as failed:
            await a.start()
        assert "would fork the log" in str(failed.value)
        assert f"size {len(leaves)}" in str(failed.value)
        done = await run_cli("log", "recover", "--data", str(a.path), "--from", b.url)
        assert done.returncode == 1
        assert "would fork the log" in done.stderr
    done = await run_cli("log", "recover", "--data", str(a.path), "--from", b.url)
    assert done.returncode == 1
    assert "could not read this log's copy from any peer" in done.stderr
    assert stored_size(a) == s1

    # With B back, A recovers at start: the same leaves, the root B mirrors.
    await b.start()
    await a.start()
    note = await open_note(a, None, a)
    assert note.checkpoint.size == len(leaves)
    assert note.checkpoint.root_hash == tree_root(leaves)
    assert await a.leaves(len(leaves)) == leaves
    assert "own log recovered from size" in a.log_tail(200)
    # The design came back with the log; its files, which the backup lacks, from B.
    await wait_for(lambda: files_available(a, r.design_id), "A to fetch its design's files")
    await check_served(a, r.hashes)

    # A appends on from there, and B takes it as the same log.
    await post_profiles(a, [member], 1, tag="restored")
    await b_has_a_at(a, b, len(leaves) + 1)
    peer: dict[str, Any] = (await b.peers())[a.did]
    assert peer["state"] == "ok"
    assert not (await b.get_json("/fed/v1/evidence"))["evidence"]


async def test_log_recover_command_copies_the_missing_entries_back(fednet: FedNet) -> None:
    r = await backed_up_then_grown(fednet)
    a, b, member, s1, leaves = r.a, r.b, r.member, r.s1, r.leaves

    done = await run_cli("log", "recover", "--data", str(a.path), "--from", b.url)
    assert done.returncode == 0, done.stderr
    assert f"recovered {len(leaves) - s1} entries" in done.stdout
    assert stored_size(a) == len(leaves)

    done = await run_cli("log", "recover", "--data", str(a.path))
    assert done.returncode == 0, done.stderr
    assert f"nothing to recover: the log is at size {len(leaves)}" in done.stdout

    await a.start()
    assert await a.leaves(len(leaves)) == leaves
    await post_profiles(a, [member], 1, tag="restored")
    await b_has_a_at(a, b, len(leaves) + 1)
    assert (await b.peers())[a.did]["state"] == "ok"
