"""A node killed with SIGKILL under load loses nothing it acknowledged (DESIGN.md §7).

A real `fabcommons serve` takes appends from 16 concurrent clients and a blob
upload stalled halfway; after about a second it is killed with SIGKILL and
started again on the same data directory. Every acknowledged record must then
be at its acknowledged index, the log must be gap-free and hash to a
checkpoint that is consistent with one taken before the kill, a client that
retries what it never heard back about must get one consistent answer, and
the half-written blob must be gone. Runs on SQLite, and on PostgreSQL when
FABCOMMONS_TEST_PG_URL is set.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest
from fabnodes import (
    LoadResult,
    NodeDir,
    Nodes,
    append_load,
    fetch_all_leaves,
    gather_bounded,
    leaf_of,
    post_envelope,
    profile_envelope,
    record_id_of,
    record_id_of_leaf,
    tree_root,
)

from node.client import NodeClient
from node.httpsig import sign_request_headers
from node.verifylog import verify_remote_log
from protocol.checkpoint import Checkpoint, NoteVerifier, open_checkpoint
from protocol.keys import AgentKey
from protocol.merkle import verify_consistency, verify_inclusion

pytestmark = pytest.mark.slow

CLIENTS = 16
LOAD_BEFORE_KILL_S = 1.0
# Bounds only: the kill ends the load long before a client sends this many.
MAX_RECORDS_PER_CLIENT = 5000
BLOB_BYTES = 1024 * 1024
HOLD_TIMEOUT_S = 60.0
ACK_WAIT_S = 15.0
INCLUSION_SAMPLES = 24

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


async def _slow_blob_upload(url: str, member: AgentKey, hold: asyncio.Event) -> int | None:
    """Upload a blob that stalls halfway until `hold` is set (the node is killed by then).

    Returns the HTTP status, or None when the connection died first.
    """
    body = hashlib.sha256(b"slow blob").digest() * (BLOB_BYTES // 32)
    target = url + "/api/v1/blobs"
    headers = sign_request_headers(
        member, "POST", target, body, headers={"Content-Type": "application/octet-stream"}
    )

    async def chunks() -> AsyncIterator[bytes]:
        half = len(body) // 2
        yield body[:half]
        await asyncio.wait_for(hold.wait(), HOLD_TIMEOUT_S)
        yield body[half:]

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        try:
            async with session.post(target, data=chunks(), headers=headers) as response:
                return response.status
        except (aiohttp.ClientError, TimeoutError):
            return None


async def _wait_for_acks(result: LoadResult, count: int, at_least_s: float) -> None:
    """Let the load run at least `at_least_s`, and until `count` appends were acknowledged."""
    await asyncio.sleep(at_least_s)
    for _ in range(int(ACK_WAIT_S / 0.05)):
        if len(result.acked) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"only {len(result.acked)} appends acknowledged in {ACK_WAIT_S} s")


async def _wait_for_temporary_blob(data: Path) -> None:
    tmp = data / "blobs" / "tmp"
    for _ in range(200):  # 10 s at most
        if tmp.is_dir() and any(tmp.iterdir()):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the stalled upload never reached the blob store")


def _assert_blob_directory_clean(data: Path) -> None:
    """No temporary file survives a restart, and every stored blob hashes to its name."""
    blobs = data / "blobs"
    leftovers = sorted(p.name for p in (blobs / "tmp").iterdir())
    assert leftovers == [], f"stray temporary blob files after restart: {leftovers}"
    strays = sorted(
        str(p.relative_to(blobs))
        for p in blobs.rglob("*")
        if p.is_file() and not p.is_relative_to(blobs / "sha256")
    )
    assert strays == [], f"files outside blobs/sha256: {strays}"
    for path in (blobs / "sha256").rglob("*"):
        if path.is_file():
            name = path.parent.name + path.name
            assert hashlib.sha256(path.read_bytes()).hexdigest() == name, path


@pytest.mark.parametrize("backend", BACKENDS)
async def test_sigkill_mid_load_keeps_every_acknowledged_record(
    backend: str, nodes: Nodes, pg_database: Callable[[], str]
) -> None:
    node: NodeDir = nodes.init(database_url=pg_database() if backend == "postgres" else None)
    server = nodes.serve(node)
    verifier = NoteVerifier.from_vkey(node.vkey)  # the key init printed: our trust anchor
    member = AgentKey.generate()
    blob = b"a blob stored before the crash\n" * 100

    async with NodeClient(server.url) as client:
        admitted = await client.admit_member(member.did, node.token)
        assert admitted["index"] == 0
        stored = await client.post_blob(blob, member)
        assert stored["sha256"] == hashlib.sha256(blob).hexdigest()

        result = LoadResult()
        load = asyncio.create_task(
            append_load(
                [server.url],
                member,
                clients=CLIENTS,
                per_client=MAX_RECORDS_PER_CLIENT,
                result=result,
            )
        )
        killed = asyncio.Event()
        upload = asyncio.create_task(_slow_blob_upload(server.url, member, killed))
        await _wait_for_temporary_blob(node.path)
        await _wait_for_acks(result, CLIENTS, LOAD_BEFORE_KILL_S / 2)
        before: Checkpoint = open_checkpoint(await client.checkpoint(), verifier).checkpoint
        await _wait_for_acks(result, 2 * CLIENTS, LOAD_BEFORE_KILL_S / 2)
        assert server.kill() == -signal.SIGKILL
        killed.set()
        await asyncio.wait_for(load, 30)
        upload_status = await asyncio.wait_for(upload, 30)
        assert upload_status is None, f"the half-sent upload ended with {upload_status}"

    assert result.refused == [], [str(e) for e in result.refused]
    # Every client was still sending when the node died, so each lost one answer.
    assert len(result.unknown) == CLIENTS
    acked_indexes = [ack.index for ack in result.acked]
    assert len(set(acked_indexes)) == len(acked_indexes), "an index was acknowledged twice"
    assert before.size >= 1

    restarted = nodes.serve(node)
    _assert_blob_directory_clean(node.path)

    async with NodeClient(restarted.url) as client:
        after = open_checkpoint(await client.checkpoint(), verifier).checkpoint
        assert after.size >= before.size
        assert after.size > max(acked_indexes)
        proof = await client.consistency_proof(before.size, after.size)
        verify_consistency(before.size, after.size, before.root_hash, after.root_hash, proof)

        # The whole log, fetched and hashed independently: gap-free, no repeats,
        # nothing in it that we did not send.
        leaves = await fetch_all_leaves(client, after.size)
        assert tree_root(leaves) == after.root_hash
        ids = [record_id_of_leaf(leaf) for leaf in leaves]
        assert len(set(ids)) == len(ids)
        assert ids[0] == admitted["id"]
        sent = {ack.record_id for ack in result.acked} | {
            record_id_of(env) for env, _ in result.unknown
        }
        assert set(ids[1:]) <= sent

        found = await gather_bounded([client.record(ack.record_id) for ack in result.acked])
        for ack, answer in zip(result.acked, found, strict=True):
            assert ack.status == 201
            assert leaves[ack.index] == ack.leaf, f"index {ack.index} holds another record"
            assert ack.record_id == record_id_of_leaf(ack.leaf)
            assert answer == {"index": ack.index, "envelope": json.loads(ack.leaf)}

        step = max(1, len(result.acked) // INCLUSION_SAMPLES)
        for ack in result.acked[::step]:
            path = await client.inclusion_proof(ack.index, after.size)
            verify_inclusion(
                hashlib.sha256(b"\x00" + ack.leaf).digest(),
                ack.index,
                after.size,
                path,
                after.root_hash,
            )

        verified = await verify_remote_log(client)
        assert (verified.size, verified.root) == (after.size, after.root_hash)

        async with aiohttp.ClientSession() as http:
            url = f"{restarted.url}/blobs/sha256/{stored['sha256']}"
            async with http.get(url) as response:
                assert response.status == 200
                assert await response.read() == blob

        # A client retrying what it never heard back about gets the stored
        # answer (200, same index) or a fresh append (201) after the end.
        position = {rid: i for i, rid in enumerate(ids)}
        fresh = 0
        for envelope, leaf in result.unknown:
            status, data = await post_envelope(client, envelope, member)
            assert data["id"] == record_id_of(envelope)
            if data["id"] in position:
                assert (status, data["index"]) == (200, position[data["id"]])
            else:
                assert (status, data["index"]) == (201, after.size + fresh)
                fresh += 1
                leaves.append(leaf)

        extra = profile_envelope(member, "after the restart")
        status, data = await post_envelope(client, extra, member)
        assert (status, data["index"]) == (201, after.size + fresh)
        leaves.append(leaf_of(extra))

        final = open_checkpoint(await client.checkpoint(), verifier).checkpoint
        assert final.size == len(leaves)
        assert final.root_hash == tree_root(leaves)
        proof = await client.consistency_proof(before.size, final.size)
        verify_consistency(before.size, final.size, before.root_hash, final.root_hash, proof)

    assert "Traceback" not in restarted.log_text()


async def test_sigterm_under_load_stops_cleanly_and_keeps_every_acknowledged_record(
    nodes: Nodes,
) -> None:
    node = nodes.init()
    server = nodes.serve(node)
    verifier = NoteVerifier.from_vkey(node.vkey)
    member = AgentKey.generate()
    async with NodeClient(server.url) as client:
        await client.admit_member(member.did, node.token)
    result = LoadResult()
    load = asyncio.create_task(
        append_load(
            [server.url], member, clients=CLIENTS, per_client=MAX_RECORDS_PER_CLIENT, result=result
        )
    )
    await _wait_for_acks(result, 2 * CLIENTS, LOAD_BEFORE_KILL_S)
    server.terminate()
    assert await asyncio.to_thread(server.stop) == 0, server.log_tail()
    await asyncio.wait_for(load, 30)
    # While it shuts down, a node may refuse appends (503), never answer them wrongly.
    assert {e.status for e in result.refused} <= {503}, [str(e) for e in result.refused]
    assert "Traceback" not in server.log_text(), server.log_tail()

    restarted = nodes.serve(node)
    async with NodeClient(restarted.url) as client:
        head = open_checkpoint(await client.checkpoint(), verifier).checkpoint
        leaves = await fetch_all_leaves(client, head.size)
        assert tree_root(leaves) == head.root_hash
        for ack in result.acked:
            assert leaves[ack.index] == ack.leaf
        verified = await verify_remote_log(client)
        assert verified.size == head.size
