"""The node's log over HTTP: group commit, key rotation, and a restart on the same storage."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time

import pytest
import rfc8785
from sqlalchemy import select

from node.client import NodeClient
from node.store.schema import checkpoints
from node.verifylog import verify_remote_log
from protocol.checkpoint import NoteVerifier, open_checkpoint
from protocol.membership import sign_rotation
from protocol.merkle import root, verify_consistency


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


async def verify_over_http(node):
    async with NodeClient(node.url("/")) as client:
        return await verify_remote_log(client)


async def test_group_commit_batches_concurrent_appends(node_factory, make_key, make_envelope):
    node = await node_factory()
    ada = make_key("ada")
    await node.admit(ada.did)
    envelopes = [make_envelope(ada, body={"display_name": f"Ada {n}"}) for n in range(64)]
    replies = await asyncio.gather(*(node.post_envelope(e, ada) for e in envelopes))
    assert [r.status for r in replies] == [201] * 64
    assert sorted(r.json()["index"] for r in replies) == list(range(1, 65))
    for reply, envelope in zip(replies, envelopes, strict=True):
        digest = hashlib.sha256(rfc8785.dumps(envelope.record.to_dict())).hexdigest()
        assert reply.json()["id"] == "sha256:" + digest

    leaves = await node.leaves(0, 65)
    for reply, envelope in zip(replies, envelopes, strict=True):
        assert leaves[reply.json()["index"]] == rfc8785.dumps(envelope.to_dict())

    async with node.store.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(checkpoints.c.size, checkpoints.c.root, checkpoints.c.note)
                .where(checkpoints.c.log_did == node.key.did)
                .order_by(checkpoints.c.size)
            )
        ).all()
    sizes = [row.size for row in rows]
    assert sizes[:2] == [0, 1]
    assert sizes[-1] == 65
    batches = len(sizes) - 2
    assert 1 <= batches < 64, f"{batches} checkpoints for 64 concurrent appends: no batching"
    verifier = NoteVerifier(node.config.origin, node.key.public_key)
    hashes = [leaf_hash(leaf) for leaf in leaves]
    for row in rows[1:]:
        signed = open_checkpoint(bytes(row.note), verifier).checkpoint
        assert signed.size == row.size
        assert signed.root_hash == bytes(row.root) == root(hashes[: row.size])

    verified = await verify_over_http(node)
    assert verified.size == 65
    assert verified.members == 1
    assert verified.types == {"member.admit": 1, "member.profile": 64}


def rotation(make_envelope, current, identity, new):
    body = {
        "identity": identity.did,
        "new_key": new.did,
        "new_key_sig": sign_rotation(identity.did, current.did, new),
    }
    return make_envelope(current, "key.rotate", body)


async def test_key_rotation_over_http(node_factory, make_key, make_envelope, check_problem):
    node = await node_factory()
    old, new, newer = make_key("ada"), make_key("ada 2"), make_key("ada 3")
    await node.admit(old.did)
    assert (
        await node.post_envelope(make_envelope(old, body={"display_name": "v1"}), old)
    ).status == 201

    # A rotation the new key did not co-sign is refused and changes nothing.
    forged = make_envelope(
        old,
        "key.rotate",
        {
            "identity": old.did,
            "new_key": new.did,
            "new_key_sig": sign_rotation(old.did, old.did, newer),
        },
    )
    before = await node.state()
    check_problem(await node.post_envelope(forged, old), 403)
    assert await node.state() == before

    rotated = await node.post_envelope(rotation(make_envelope, old, old, new), old)
    assert rotated.status == 201
    assert rotated.json()["index"] == 2

    check_problem(
        await node.post_envelope(make_envelope(old, body={"display_name": "old"}), old), 403
    )
    accepted = await node.post_envelope(make_envelope(new, body={"display_name": "new"}), new)
    assert accepted.status == 201
    assert accepted.json()["index"] == 3
    members = (await node.get("/api/v1/members")).json()
    assert members["members"] == [{"did": old.did, "role": "member", "key": new.did}]

    # The retired key may not upload files either; the current one may.
    for key, status in ((old, 403), (new, 201)):
        headers = node.sign_headers(key, "/api/v1/blobs", b"file", content_type="text/plain")
        reply = await node.request("POST", "/api/v1/blobs", data=b"file", headers=headers)
        assert reply.status == status

    # Rotating back to a key this log has seen is refused; onward is accepted.
    check_problem(await node.post_envelope(rotation(make_envelope, new, old, old), new), 403)
    onward = await node.post_envelope(rotation(make_envelope, new, old, newer), new)
    assert onward.status == 201
    check_problem(
        await node.post_envelope(make_envelope(new, body={"display_name": "x"}), new), 403
    )
    assert (
        await node.post_envelope(make_envelope(newer, body={"display_name": "y"}), newer)
    ).status == 201

    verified = await verify_over_http(node)
    assert verified.size == 6
    assert verified.types == {"member.admit": 1, "member.profile": 3, "key.rotate": 2}


async def test_restart_keeps_head_checkpoint_and_authority(
    node_factory, make_key, make_envelope, check_problem
):
    node = await node_factory(fresh=True)
    ada, ada2, grace = make_key("ada"), make_key("ada 2"), make_key("grace")
    await node.admit(ada.did)
    await node.admit(grace.did, role="operator")
    await node.post_envelope(make_envelope(ada, body={"display_name": "Ada"}), ada)
    await node.post_envelope(rotation(make_envelope, ada, ada, ada2), ada)
    await node.post_envelope(make_envelope(grace, body={"display_name": "Grace"}), grace)

    size = await node.size()
    assert size == 5
    note = await node.checkpoint()
    members = (await node.get("/api/v1/members")).json()
    leaves = await node.leaves(0, size)
    well_known = (await node.get("/.well-known/fabcommons")).json()

    node = await node.reopen()
    assert await node.size() == size
    assert await node.checkpoint() == note
    assert (await node.get("/api/v1/members")).json() == members
    assert await node.leaves(0, size) == leaves
    assert (await node.get("/.well-known/fabcommons")).json() == well_known

    # Authority state survived: the retired key is refused, the current one appends next.
    check_problem(
        await node.post_envelope(make_envelope(ada, body={"display_name": "old"}), ada), 403
    )
    reply = await node.post_envelope(make_envelope(ada2, body={"display_name": "Ada again"}), ada2)
    assert reply.status == 201
    assert reply.json()["index"] == size

    verifier = NoteVerifier(node.config.origin, node.key.public_key)
    old_root = open_checkpoint(note, verifier).checkpoint.root_hash
    new = open_checkpoint(await node.checkpoint(), verifier).checkpoint
    assert new.size == size + 1
    proof = (
        await node.get("/fed/v1/proof/consistency", params={"from": size, "to": size + 1})
    ).json()
    hashes = [base64.b64decode(h) for h in proof["hashes"]]
    verify_consistency(size, size + 1, old_root, new.root_hash, hashes)
    assert (await verify_over_http(node)).size == size + 1


@pytest.mark.parametrize(
    "clock_ahead_s", [0, 200], ids=["client-clock-right", "client-clock-200s-ahead"]
)
async def test_replay_is_refused_after_restart(
    node_factory, make_key, check_problem, clock_ahead_s
):
    # specs/08-node-api.md §2.3: no request signed before a restart can be
    # replayed into the new process. |created - now| <= 300 s both ways, so a
    # client whose clock runs ahead signs requests "created" after the restart.
    node = await node_factory()
    ada = make_key("ada")
    await node.admit(ada.did)
    body = b"a file uploaded once"
    await asyncio.sleep(1.02 - time.time() % 1)  # early in a second: restart within it
    headers = node.sign_headers(
        ada, "/api/v1/blobs", body, content_type="text/plain", now=time.time() + clock_ahead_s
    )
    assert (await node.request("POST", "/api/v1/blobs", data=body, headers=headers)).status == 201
    node = await node.reopen()
    check_problem(await node.request("POST", "/api/v1/blobs", data=body, headers=headers), 401)
