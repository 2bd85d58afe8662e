"""Go's sumdb/note and sumdb/tlog verify what a running `fabcommons serve` publishes.

A real node process on 127.0.0.1: its signed checkpoints open with
note.Open, every leaf served by /fed/v1/entries hashes (in Go, with
tlog.StoredHashes/TreeHash) to the checkpoint's root, and the inclusion and
consistency proofs it serves pass tlog.CheckRecord and tlog.CheckTree.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.client import NodeClient
from protocol.checkpoint import Checkpoint, split_note
from protocol.keys import AgentKey
from protocol.membership import MemberProfile
from protocol.records import Record
from protocol.signing import sign

pytestmark = pytest.mark.interop


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def running_node(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(url, admin token) of a real node process; stopped with SIGTERM afterwards."""
    data = tmp_path / "node"
    port = _free_port()
    cli = [sys.executable, "-m", "node.cli"]
    subprocess.run(
        [*cli, "init", "--data", str(data), "--name", "Interop Coop", "--port", str(port)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [*cli, "serve", "--data", str(data)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                assert process.poll() is None, (tmp_path / "serve.log").read_text()
                assert time.monotonic() < deadline, "the node did not start"
                time.sleep(0.1)
        yield url, (data / "admin.token").read_text(encoding="ascii").strip()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


async def _grow_log(url: str, token: str, count: int) -> list[bytes]:
    """Admit two members, append `count` records; return a checkpoint note after each batch."""
    members = [AgentKey.generate(), AgentKey.generate()]
    notes = []
    async with NodeClient(url) as client:
        for member in members:
            await client.admit_member(member.did, token)
        for batch in range(0, count, 10):
            envelopes = [
                sign(
                    Record(
                        type=MemberProfile.TYPE,
                        author=members[i % 2].did,
                        created=f"2026-11-26T12:00:{i % 60:02d}.{i + 1}Z",
                        body=MemberProfile(display_name=f"member é {i}").to_dict(),
                    ),
                    members[i % 2],
                )
                for i in range(batch, min(batch + 10, count))
            ]
            await asyncio.gather(
                *(client.post_record(e, members[i % 2]) for i, e in enumerate(envelopes, batch))
            )
            notes.append(await client.checkpoint())
    return notes


async def _fetch_proofs(url: str, size: int, old_sizes: list[int]) -> dict[str, object]:
    async with NodeClient(url) as client:
        leaves: list[bytes] = []
        async for batch in client.iter_entries(0, size):
            leaves.extend(batch)
        indexes = sorted({0, 1, size // 3, size // 2, size - 2, size - 1})
        inclusion = [
            {
                "index": i,
                "tree_size": n,
                "hashes": [b64(h) for h in await client.inclusion_proof(i, n)],
                "leaf": b64(leaves[i]),
            }
            for n in (size, *old_sizes)
            for i in indexes
            if i < n
        ]
        consistency = [
            {
                "from": m,
                "to": n,
                "hashes": [b64(h) for h in await client.consistency_proof(m, n)],
            }
            for m in old_sizes
            for n in (*old_sizes, size)
            if m < n
        ]
    return {
        "leaves": [b64(leaf) for leaf in leaves],
        "inclusion": inclusion,
        "consistency": consistency,
    }


def test_go_verifies_a_running_node(go_tools, running_node: tuple[str, str]) -> None:
    url, token = running_node
    notes = asyncio.run(_grow_log(url, token, 57))

    async def well_known() -> tuple[str, str]:
        async with NodeClient(url) as client:
            info = await client.well_known()
        return info.vkey, info.origin

    vkey, origin = asyncio.run(well_known())

    # Every checkpoint the node published along the way opens in Go.
    sizes = []
    for note in notes:
        answer = go_tools.verify({"vkey": vkey, "note": note.decode("utf-8")})
        assert answer["signers"] == [origin]
        text, _ = split_note(note)
        checkpoint = Checkpoint.from_text(text)
        assert answer["checkpoint"]["size"] == checkpoint.size
        assert answer["checkpoint"]["root"] == b64(checkpoint.root_hash)
        sizes.append(checkpoint.size)
    final = notes[-1]
    size = sizes[-1]
    assert size == 2 + 57

    # All leaves, hashed by Go itself, give the final checkpoint's root; every
    # served inclusion proof (at the final and at earlier published sizes) and
    # every consistency proof between published sizes passes tlog's checks.
    old_sizes = sorted(set(sizes[:-1]))
    proofs = asyncio.run(_fetch_proofs(url, size, old_sizes))
    answer = go_tools.verify({"vkey": vkey, "note": final.decode("utf-8"), **proofs})
    assert answer["leaves_root"] == answer["checkpoint"]["root"]
    assert answer["inclusion_checked"] == len(proofs["inclusion"])  # type: ignore[arg-type]
    assert answer["consistency_checked"] == len(proofs["consistency"])  # type: ignore[arg-type]
    assert answer["consistency_checked"] >= 5

    # And Go refuses the same material when one served hash is altered.
    tampered = dict(proofs)
    first = dict(proofs["inclusion"][0])  # type: ignore[index]
    first["hashes"] = [b64(bytes(32)), *first["hashes"][1:]]
    tampered["inclusion"] = [first]
    tampered["consistency"] = []
    go_tools.refusal("verify", {"vkey": vkey, "note": final.decode("utf-8"), **tampered})
