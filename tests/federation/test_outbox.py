"""The outbox: a cosignature for a peer that is down is queued in the database, survives a
restart of the sending node, and is delivered once the peer is back (issue 4).

A, B and M federate; B's background loop is slow (sync_interval_s 60), so B
syncs A only when the test asks. A appends; M syncs A; A is stopped. B then
syncs A from M's mirror, cosigns A's checkpoint and queues the cosignature,
whose delivery fails while A is down. B is stopped (SIGTERM) and started
again with A still down: the queued row is still there and the restarted B
keeps retrying it. A is started: B delivers, and A's checkpoint carries B's
cosignature (beside M's, delivered while A was up).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fednet import FedNet, FedNode, open_note, post_profiles, query_db, wait_for

from protocol.checkpoint import ALG_COSIGNATURE_V1, NoteVerifier, split_note, verified_cosignatures
from protocol.keys import AgentKey

pytestmark = pytest.mark.slow


def outbox_rows(node: FedNode) -> list[tuple[Any, ...]]:
    """(id, peer_did, kind, payload, attempts) of every queued delivery, read from the DB."""
    return query_db(
        node.db_path, "SELECT id, peer_did, kind, payload, attempts FROM outbox ORDER BY id"
    )


def witness(node: FedNode) -> NoteVerifier:
    return NoteVerifier(node.origin, node.public_key, ALG_COSIGNATURE_V1)


async def cosigners(node: FedNode, witnesses: list[FedNode]) -> set[bytes]:
    signed = await open_note(node, None, node)
    text, signatures = split_note(signed.note)
    return set(verified_cosignatures(text, signatures, [witness(w) for w in witnesses]))


async def test_cosignature_for_a_down_peer_survives_restart_and_is_delivered(
    fednet: FedNet,
) -> None:
    a, m = fednet.node("A"), fednet.node("M")
    b = fednet.node("B", sync_interval_s=60)
    for node in (a, b, m):
        await node.start()
    # A first, so that it accepts B's and M's inbox requests from the start.
    await a.add_peer(b.url)
    await a.add_peer(m.url)
    await m.add_peer(a.url)
    await b.add_peer(m.url)
    await b.add_peer(a.url)
    member = AgentKey.generate()
    await a.admit(member.did)
    await post_profiles(a, [member], 5, tag="outbox", clients=2)
    a_signed = await open_note(a, None, a)
    size = a_signed.checkpoint.size
    peer = await m.sync(a.did)
    assert peer["verified_size"] == size

    async def cosigned(by: FedNode) -> bool:
        return by.public_key in await cosigners(a, [b, m])

    await wait_for(lambda: cosigned(m), "M's cosignature to reach A", timeout_s=20)

    assert a.stop() == 0, "no graceful shutdown on SIGTERM"
    peer = await b.sync(a.did)  # from M's mirror: A is down
    assert peer["verified_size"] == size, peer

    def queued() -> tuple[Any, ...] | None:
        rows = [r for r in outbox_rows(b) if r[1] == a.did and r[2] == "cosignature"]
        return rows[0] if len(rows) == 1 and rows[0][4] >= 1 else None

    row = await wait_for(queued, "a failed delivery attempt to A", timeout_s=15)
    payload = row[3]
    item = json.loads(payload)
    assert {k: item[k] for k in ("kind", "log", "size")} == {
        "kind": "cosignature",
        "log": a.did,
        "size": size,
    }
    text, _ = split_note(a_signed.note)
    _, [line] = split_note(text + b"\n" + item["line"].encode())
    assert set(verified_cosignatures(text, [line], [witness(b)])) == {b.public_key}

    assert b.stop() == 0, "no graceful shutdown on SIGTERM"
    kept = queued()
    assert kept is not None, "the queued delivery was lost"
    assert kept[0] == row[0]
    attempts_before = kept[4]
    await b.start()

    def retried() -> tuple[Any, ...] | None:
        found = queued()
        return found if found is not None and found[4] > attempts_before else None

    retried_row = await wait_for(retried, "the restarted B to retry", timeout_s=20)
    assert retried_row[0] == row[0]
    assert retried_row[3] == payload

    await a.start()
    assert (await open_note(a, None, a)).checkpoint == a_signed.checkpoint
    # Bounded by the outbox backoff: 2^attempts × [0.5, 1.5] s after the last failure.
    await wait_for(lambda: cosigned(b), "B's queued cosignature to reach A", timeout_s=60)
    assert await cosigners(a, [b, m]) == {b.public_key, m.public_key}
    assert [r for r in outbox_rows(b) if r[1] == a.did] == []
