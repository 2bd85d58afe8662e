"""Two `serve` processes on one PostgreSQL database write one linear log (DESIGN.md §7).

`init` runs once; two `serve` processes then share its data directory (key,
admin token) and its database, on different ports. Appends are serialised by
a transaction-scoped advisory lock, so however the clients spread their
requests, the log stays gap-free and no index is handed out twice; and
whatever one process appends, the other knows at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable

import aiohttp
import pytest
from fabnodes import (
    Nodes,
    ServeProcess,
    append_load,
    fetch_all_leaves,
    gather_bounded,
    leaf_of,
    post_envelope,
    profile_envelope,
    record_id_of,
    tree_root,
)

from node.client import NodeClient
from node.httpsig import sign_request_headers
from node.verifylog import verify_remote_log
from protocol.checkpoint import NoteVerifier, open_checkpoint
from protocol.keys import AgentKey
from protocol.records import Envelope

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

CLIENTS = 16
RECORDS_PER_CLIENT = 8
DUPLICATE_ROUNDS = 6


async def _replay_through(
    first: ServeProcess,
    second: ServeProcess,
    member: AgentKey,
    envelope: Envelope,
    *,
    fresh: bool = False,
) -> tuple[int, int]:
    """POST one signed request to `first`, then again (same Host) to `second`.

    With fresh=True the second request is signed anew (another nonce).
    """
    target = first.url + "/api/v1/records"
    body = leaf_of(envelope)

    def signed() -> dict[str, str]:
        return sign_request_headers(
            member, "POST", target, body, headers={"Content-Type": "application/json"}
        )

    headers = signed()
    statuses = []
    async with aiohttp.ClientSession() as http:
        for url in (first.url, second.url):
            # Host stays the first process's, as the signed @target-uri says.
            sent = {**headers, "Host": f"127.0.0.1:{first.port}"}
            async with http.post(url + "/api/v1/records", data=body, headers=sent) as response:
                statuses.append(response.status)
            if fresh:
                headers = signed()
    return statuses[0], statuses[1]


async def test_two_processes_append_to_one_linear_log(
    nodes: Nodes, pg_database: Callable[[], str]
) -> None:
    node = nodes.init(database_url=pg_database())
    first, second = nodes.serve_many(node, 2)
    verifier = NoteVerifier.from_vkey(node.vkey)
    member = AgentKey.generate()

    async with NodeClient(first.url) as a, NodeClient(second.url) as b:
        for client in (a, b):
            info = await client.well_known()
            assert (info.did, info.origin, info.vkey) == (node.did, node.origin, node.vkey)
        admitted = await a.admit_member(member.did, node.token)
        assert admitted["index"] == 0

        # What one process appended, the other knows at once: the member admitted
        # through the first uploads through the second before that has appended
        # anything itself, and the file is served by both (one data directory).
        data = b"uploaded through the other process"
        stored = await b.post_blob(data, member)
        assert stored["sha256"] == hashlib.sha256(data).hexdigest()
        async with aiohttp.ClientSession() as http:
            url = f"{first.url}/blobs/sha256/{stored['sha256']}"
            async with http.get(url) as response:
                assert response.status == 200
                assert await response.read() == data

        result = await append_load(
            [first.url, second.url], member, clients=CLIENTS, per_client=RECORDS_PER_CLIENT
        )
        assert result.refused == [], [str(e) for e in result.refused]
        assert result.connection_errors == []
        total = CLIENTS * RECORDS_PER_CLIENT
        assert len(result.acked) == total
        assert {ack.via for ack in result.acked} == {first.url, second.url}
        assert all(ack.status == 201 for ack in result.acked)
        # Unique and gap-free: exactly the indexes after the admission, once each.
        assert sorted(ack.index for ack in result.acked) == list(range(1, total + 1))

        notes = [await a.checkpoint(), await b.checkpoint()]
        heads = [open_checkpoint(note, verifier).checkpoint for note in notes]
        assert heads[0] == heads[1]
        assert heads[0].size == total + 1

        leaves_a = await fetch_all_leaves(a, total + 1)
        leaves_b = await fetch_all_leaves(b, total + 1)
        assert leaves_a == leaves_b
        assert tree_root(leaves_a) == heads[0].root_hash
        # Each record is looked up through the process that did not append it.
        found = await gather_bounded(
            [(b if ack.via == first.url else a).record(ack.record_id) for ack in result.acked]
        )
        for ack, answer in zip(result.acked, found, strict=True):
            assert leaves_a[ack.index] == ack.leaf
            assert answer == {"index": ack.index, "envelope": json.loads(ack.leaf)}

        # One envelope sent through both at once is appended once: one 201, one 200.
        size = total + 1
        for round_ in range(DUPLICATE_ROUNDS):
            envelope = profile_envelope(member, f"sent through both, round {round_}")
            answers = await asyncio.gather(
                post_envelope(a, envelope, member), post_envelope(b, envelope, member)
            )
            assert sorted(status for status, _ in answers) == [200, 201], answers
            assert [data for _, data in answers] == [
                {"id": record_id_of(envelope), "index": size}
            ] * 2
            leaves_a.append(leaf_of(envelope))
            size += 1

        for client in (a, b):
            verified = await verify_remote_log(client)
            assert (verified.size, verified.root) == (size, tree_root(leaves_a))
            assert verified.members == 1

    # The processes share one replay cache: a signed request that one of them
    # accepted is refused by the other, as a load balancer would deliver it.
    envelope = profile_envelope(member, "replayed through the other process")
    assert await _replay_through(first, second, member, envelope) == (201, 401)
    # The control: a fresh signature of the same request is accepted (the same record: 200).
    assert await _replay_through(first, second, member, envelope, fresh=True) == (200, 200)

    assert "Traceback" not in first.log_text()
    assert "Traceback" not in second.log_text()
