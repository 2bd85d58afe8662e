"""A peer that floods the inbox while members use the node.

Guarantee: a flood of pushes from one peer (validly signed hints far above
its rate, oversized bodies, bodies whose signature does not match, replays of
one signed request) is answered with 4xx problem+json or 202, never a 5xx;
nothing of it reaches the log; the node keeps answering its members
throughout: every append a member makes during the flood is acknowledged and
present afterwards at its acknowledged index; and another peer's push is not
limited by the flooder's (its token bucket is its own).

The flooder and the other peer are fake nodes served by the test
(fednet.FakeNodes) that N follows as ordinary peers; the member appends go
through `POST /api/v1/records` with RFC 9421 signatures, as any client's.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest
from fednet import (
    FakeNodes,
    FedNet,
    open_note,
    post_profiles,
    signed_headers,
    tree_root,
    wait_for,
)

from protocol.keys import AgentKey

pytestmark = pytest.mark.slow

RATE_PER_S = 5.0
MAX_REQUEST_BYTES = 64 * 1024
HINTS = 240
OVERSIZED = 40
MISMATCHED = 40
REPLAYS = 40
MEMBER_APPENDS = 60
# Generous: the guarantee is that the node answers during the flood, not how fast.
ANSWER_BOUND_S = 20.0


async def _flood(url: str, requests: list[tuple[bytes, dict[str, str]]]) -> list[tuple[int, Any]]:
    timeout = aiohttp.ClientTimeout(total=ANSWER_BOUND_S)
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:

        async def one(body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
            async with session.post(url, data=body, headers=headers) as response:
                raw = await response.read()
                kind = response.headers.get("Content-Type", "")
                return response.status, (json.loads(raw) if "json" in kind else raw), kind

        answers = await asyncio.gather(*(one(body, headers) for body, headers in requests))
    for status, _, kind in answers:
        if status >= 400:
            assert kind.startswith("application/problem+json"), (status, kind)
    return [(status, payload) for status, payload, _ in answers]


async def test_an_inbox_flood_is_refused_cleanly_while_members_append(fednet: FedNet) -> None:
    node = fednet.node(
        "N", inbox_rate_per_s=RATE_PER_S, max_request_bytes=MAX_REQUEST_BYTES, sync_interval_s=60
    )
    fakes = FakeNodes()
    await fakes.start()
    try:
        await node.start()
        flooder, other = fakes.add("F"), fakes.add("G")
        for fake in (flooder, other):
            assert (await node.add_peer(fake.url))["did"] == fake.did

        async def synced() -> bool:
            return all(p["state"] == "ok" for p in (await node.peers()).values())

        await wait_for(synced, "N to sync both fakes once", timeout_s=10)
        members = [AgentKey.generate() for _ in range(4)]
        for member in members:
            await node.admit(member.did)
        size_before = (await open_note(node, None, node)).checkpoint.size

        inbox = node.url + "/fed/v1/inbox"
        hint = json.dumps({"kind": "hint"}).encode()
        big = b'{"kind": "hint", "pad": "' + b"x" * MAX_REQUEST_BYTES + b'"}'
        replayed = signed_headers(flooder.key, inbox, hint)
        requests = [(hint, signed_headers(flooder.key, inbox, hint)) for _ in range(HINTS)]
        requests += [(big, signed_headers(flooder.key, inbox, big)) for _ in range(OVERSIZED)]
        # Signed over one body, sent with another: the signature covers Content-Digest.
        requests += [
            (b'{"kind": "hint", "n": %d}' % n, signed_headers(flooder.key, inbox, hint))
            for n in range(MISMATCHED)
        ]
        requests += [(hint, replayed)] * REPLAYS

        began = time.monotonic()
        flood = asyncio.create_task(_flood(inbox, requests))
        acked = await asyncio.wait_for(
            post_profiles(node, members, MEMBER_APPENDS, tag="during the flood", clients=8),
            ANSWER_BOUND_S,
        )
        answers = await asyncio.wait_for(flood, ANSWER_BOUND_S)
        elapsed = time.monotonic() - began

        statuses = [status for status, _ in answers]
        assert all(status < 500 for status in statuses), sorted(set(statuses))
        hints = statuses[:HINTS]
        assert set(hints) <= {202, 429}, sorted(set(hints))
        # A token bucket of four seconds' worth, plus what refilled meanwhile (+1 rounding),
        # shared with the other kinds of request the flooder sent.
        assert hints.count(202) <= RATE_PER_S * 4 + RATE_PER_S * elapsed + 1, (hints, elapsed)
        assert 429 in hints
        oversized = statuses[HINTS : HINTS + OVERSIZED]
        assert set(oversized) <= {413, 429}, sorted(set(oversized))
        mismatched = statuses[HINTS + OVERSIZED : HINTS + OVERSIZED + MISMATCHED]
        assert set(mismatched) <= {400, 401, 429}, sorted(set(mismatched))
        assert 202 not in mismatched
        replays = statuses[HINTS + OVERSIZED + MISMATCHED :]
        assert replays.count(202) <= 1, replays

        # The other peer is not limited by the flood.
        body = json.dumps({"kind": "hint"}).encode()
        status, _ = await node.request(
            "POST", "/fed/v1/inbox", data=body, headers=signed_headers(other.key, inbox, body)
        )
        assert status == 202

        # Every member append is in the log at its acknowledged index, and nothing else is.
        checkpoint = (await open_note(node, None, node)).checkpoint
        assert checkpoint.size == size_before + MEMBER_APPENDS
        leaves = await node.leaves(checkpoint.size)
        for _, index, leaf in acked:
            assert leaves[index] == leaf
        assert checkpoint.root_hash == tree_root(leaves)
        peers = await node.peers()
        assert {p["state"] for p in peers.values()} == {"ok"}, peers
    finally:
        await fakes.close()
