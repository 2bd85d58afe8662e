"""Three real nodes federate: replication, mirrors, witnessing, catching up while the origin is
down, and convergence after it returns (issue 4's acceptance; DESIGN.md §5).

A, B and C each add the other two. Members of A append records over HTTP;
B and C verify them (peer state `ok`, verified size = A's size), mirror them
at /fed/v1/logs/{A}/… (A's signed checkpoint, leaves that hash to its root,
records by id) and cosign A's checkpoint, which A then serves with both
cosignatures. Then C is stopped, A appends more, only B syncs, A is stopped
and C is started again: C catches up with A's log from B's mirror while A is
down. A is restarted and appends more; all three agree on every log.

Sync rounds are run through POST /api/v1/admin/peers/{did}/sync, so no test
step sleeps on the background loop (sync_interval_s is 0.5 s for the rest).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

import pytest
from fednet import FedNet, FedNode, federate, open_note, post_profiles, tree_root, wait_for

from protocol.checkpoint import (
    ALG_COSIGNATURE_V1,
    NoteVerifier,
    SignedCheckpoint,
    split_note,
    verified_cosignatures,
)
from protocol.keys import AgentKey

pytestmark = pytest.mark.slow


def witness(node: FedNode) -> NoteVerifier:
    """A node's cosigner key: its origin as the name, its node key, type 0x04."""
    return NoteVerifier(node.origin, node.public_key, ALG_COSIGNATURE_V1)


async def own_log(node: FedNode) -> tuple[SignedCheckpoint, list[bytes]]:
    """The node's signed checkpoint and all its leaves, which must hash to the signed root."""
    signed = await open_note(node, None, node)
    leaves = await node.leaves(signed.checkpoint.size)
    assert tree_root(leaves) == signed.checkpoint.root_hash
    return signed, leaves


async def check_follows(
    follower: FedNode, log: FedNode, expected: SignedCheckpoint, leaves: Sequence[bytes]
) -> None:
    """follower verified `log` up to `expected` and mirrors it faithfully."""
    size = expected.checkpoint.size
    peer = (await follower.peers())[log.did]
    assert peer["state"] == "ok", (follower.label, log.label, peer)
    assert peer["verified_size"] == size, (follower.label, log.label, peer)
    mirrored = await open_note(follower, log.did, log)
    assert mirrored.checkpoint == expected.checkpoint, (follower.label, log.label)
    mirrored_leaves = await follower.leaves(size, log.did)
    assert mirrored_leaves == list(leaves)
    assert tree_root(mirrored_leaves) == mirrored.checkpoint.root_hash


async def check_records(
    follower: FedNode, log: FedNode, acked: Sequence[tuple[str, int, bytes]]
) -> None:
    for record_id, index, leaf in acked:
        found = await follower.get_json(f"/fed/v1/logs/{log.did}/records/{record_id}")
        assert found == {"index": index, "envelope": json.loads(leaf)}


async def cosigned_by(node: FedNode, witnesses: Sequence[FedNode]) -> dict[bytes, int]:
    """Valid cosignatures on the node's current checkpoint by these witnesses."""
    signed = await open_note(node, None, node)
    text, signatures = split_note(signed.note)
    return verified_cosignatures(text, signatures, [witness(w) for w in witnesses])


async def wait_cosigned(node: FedNode, witnesses: Sequence[FedNode], what: str) -> None:
    wanted = {w.public_key for w in witnesses}

    async def probe() -> dict[bytes, int] | None:
        found = await cosigned_by(node, witnesses)
        return found if set(found) == wanted else None

    # Bounded by the outbox backoff and circuit breaker after A was down (seconds).
    found = await wait_for(probe, what, timeout_s=45)
    now = int(time.time())
    assert all(now - 120 <= ts <= now + 5 for ts in found.values()), found


async def test_three_nodes_replicate_witness_catch_up_and_converge(fednet: FedNet) -> None:
    a, b, c = fednet.node("A"), fednet.node("B"), fednet.node("C")
    for node in (a, b, c):
        await node.start()
    await federate([a, b, c])
    members = [AgentKey.generate() for _ in range(3)]
    for member in members:
        await a.admit(member.did)
    first = await post_profiles(a, members, 12, tag="first", clients=4)

    # 1. The records appear, verified, at B and C.
    a_signed, a_leaves = await own_log(a)
    assert [a_leaves[i] for _, i, _ in first] == [leaf for _, _, leaf in first]
    for follower in (b, c):
        await follower.sync(a.did)
        await check_follows(follower, a, a_signed, a_leaves)
        await check_records(follower, a, first)
    logs = {entry["did"]: entry for entry in (await b.get_json("/fed/v1/logs"))["logs"]}
    assert logs[a.did]["size"] == a_signed.checkpoint.size
    assert logs[a.did]["vkey"] == a.vkey

    # 2. Witnessing: B and C cosign A's checkpoint and deliver it; A serves both.
    await wait_cosigned(a, [b, c], "A's checkpoint to carry B's and C's cosignatures")

    # 3. C is down while A appends and B syncs; then A goes down and C comes back.
    assert c.stop() == 0, "no graceful shutdown on SIGTERM"
    second = await post_profiles(a, members, 7, tag="second", clients=4)
    a_signed2, a_leaves2 = await own_log(a)
    assert a_leaves2[: len(a_leaves)] == a_leaves
    assert [a_leaves2[i] for _, i, _ in second] == [leaf for _, _, leaf in second]
    await b.sync(a.did)
    await check_follows(b, a, a_signed2, a_leaves2)
    assert a.stop() == 0, "no graceful shutdown on SIGTERM"
    await c.start()
    peer = await c.sync(a.did)
    assert not a.running
    assert peer["verified_size"] == a_signed2.checkpoint.size, peer
    await check_follows(c, a, a_signed2, a_leaves2)
    await check_records(c, a, second)

    # 4. A returns and appends more; everything converges.
    await a.start()
    third = await post_profiles(a, members, 5, tag="third", clients=4)
    a_signed3, a_leaves3 = await own_log(a)
    assert a_leaves3[: len(a_leaves2)] == a_leaves2
    nodes = (a, b, c)
    for follower in nodes:
        for log in nodes:
            if log is not follower:
                await follower.sync(log.did)
    for log in nodes:
        signed, leaves = (a_signed3, a_leaves3) if log is a else await own_log(log)
        for follower in nodes:
            if follower is not log:
                await check_follows(follower, log, signed, leaves)
    for follower in (b, c):
        await check_records(follower, a, [*first, *second, *third])
    await wait_cosigned(a, [b, c], "A's new checkpoint to carry B's and C's cosignatures")
