"""The federation read API of the node's own log: entries, proofs, records, checkpoint.

Roots are computed here from the served leaves with hashlib (RFC 9162 §2.1),
independently of protocol.merkle, and the node's proofs must verify against
them.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json

import pytest
import rfc8785

from protocol.checkpoint import NoteVerifier, open_checkpoint
from protocol.merkle import root, verify_consistency, verify_inclusion
from protocol.signing import envelope_from_leaf, leaf_bytes

LOG_SIZE = 40

# Parameter validation, answered before storage matters: SQLite alone is enough.
INPUT_ONLY = pytest.mark.parametrize("backend", ["sqlite"])


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def tree_root(hashes: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 MTH over leaf hashes."""
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return hashlib.sha256(b"\x01" + tree_root(hashes[:k]) + tree_root(hashes[k:])).digest()


async def populate(node, make_key, make_envelope, size: int) -> dict[str, bytes]:
    """Admit ada, then append size - 1 profiles concurrently; return {record id: leaf}."""
    ada = make_key("ada")
    await node.admit(ada.did)
    envelopes = [make_envelope(ada, body={"display_name": f"Ada {n}"}) for n in range(size - 1)]
    replies = await asyncio.gather(*(node.post_envelope(e, ada) for e in envelopes))
    assert [r.status for r in replies] == [201] * (size - 1)
    assert await node.size() == size
    return {r.json()["id"]: leaf_bytes(e) for r, e in zip(replies, envelopes, strict=True)}


async def test_entries_are_exactly_the_leaves_and_hash_to_the_checkpoint(
    node_factory, make_key, make_envelope
):
    node = await node_factory(max_entries_per_request=16)
    posted = await populate(node, make_key, make_envelope, LOG_SIZE)

    reply = await node.get("/fed/v1/entries", params={"start": "0", "end": "3"})
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("application/x-ndjson")
    leaves = await node.leaves(0, LOG_SIZE)
    assert len(leaves) == LOG_SIZE
    assert reply.body == b"".join(leaf + b"\n" for leaf in leaves[:3])
    for leaf in leaves:
        envelope = envelope_from_leaf(leaf)
        assert rfc8785.dumps(envelope.to_dict()) == leaf
    assert set(leaves[1:]) == set(posted.values())
    assert envelope_from_leaf(leaves[0]).record.type == "member.admit"

    note = await node.checkpoint()
    checkpoint = open_checkpoint(note, NoteVerifier(node.config.origin, node.key.public_key))
    hashes = [leaf_hash(leaf) for leaf in leaves]
    assert checkpoint.checkpoint.size == LOG_SIZE
    assert checkpoint.checkpoint.root_hash == tree_root(hashes) == root(hashes)

    # Every record is served by id with the index its leaf has in the log.
    for record_id, leaf in posted.items():
        found = await node.get(f"/fed/v1/records/{record_id}")
        assert found.status == 200
        data = found.json()
        assert leaves[data["index"]] == leaf
        assert rfc8785.dumps(data["envelope"]) == leaf
        assert (
            record_id
            == "sha256:" + hashlib.sha256(rfc8785.dumps(data["envelope"]["record"])).hexdigest()
        )


async def test_entries_paging_respects_the_limit(node_factory, make_key, make_envelope):
    node = await node_factory(max_entries_per_request=7)
    posted = await populate(node, make_key, make_envelope, LOG_SIZE)
    all_leaves = await node.leaves(0, LOG_SIZE)  # pages through the node's limit
    assert len(all_leaves) == LOG_SIZE
    assert set(all_leaves[1:]) == set(posted.values())
    windows = [(0, 40, range(7)), (0, 3, range(3)), (35, 10**9, range(35, 40)), (39, 40, [39])]
    windows += [(12, 19, range(12, 19)), (12, 20, range(12, 19))]
    for start, end, expected in windows:
        reply = await node.get("/fed/v1/entries", params={"start": str(start), "end": str(end)})
        assert reply.status == 200
        lines = reply.body.split(b"\n")
        assert lines.pop() == b""
        assert lines == [all_leaves[i] for i in expected], (start, end)


# (id, path, query, status) against a log of 10 entries.
BAD_READS = [
    ("entries-negative", "/fed/v1/entries", {"start": "-1", "end": "2"}),
    ("entries-non-numeric", "/fed/v1/entries", {"start": "abc", "end": "2"}),
    ("entries-exponent", "/fed/v1/entries", {"start": "1e2", "end": "200"}),
    ("entries-hex", "/fed/v1/entries", {"start": "0x1", "end": "2"}),
    ("entries-space", "/fed/v1/entries", {"start": " 1", "end": "2"}),
    ("entries-leading-zero", "/fed/v1/entries", {"start": "01", "end": "2"}),
    ("entries-decimal", "/fed/v1/entries", {"start": "1.0", "end": "2"}),
    ("entries-huge", "/fed/v1/entries", {"start": "0", "end": "9" * 40}),
    ("entries-end-equals-start", "/fed/v1/entries", {"start": "2", "end": "2"}),
    ("entries-end-below-start", "/fed/v1/entries", {"start": "2", "end": "1"}),
    ("entries-start-at-size", "/fed/v1/entries", {"start": "10", "end": "20"}),
    ("entries-start-beyond-size", "/fed/v1/entries", {"start": "99", "end": "100"}),
    ("entries-no-start", "/fed/v1/entries", {"end": "2"}),
    ("entries-no-end", "/fed/v1/entries", {"start": "0"}),
    ("entries-empty", "/fed/v1/entries", {"start": "", "end": "2"}),
    ("entries-non-ascii-digit", "/fed/v1/entries", {"start": "٣", "end": "5"}),
    ("inclusion-index-at-size", "/fed/v1/proof/inclusion", {"index": "5", "tree_size": "5"}),
    ("inclusion-empty-tree", "/fed/v1/proof/inclusion", {"index": "0", "tree_size": "0"}),
    ("inclusion-beyond-log", "/fed/v1/proof/inclusion", {"index": "0", "tree_size": "11"}),
    ("inclusion-negative", "/fed/v1/proof/inclusion", {"index": "-1", "tree_size": "5"}),
    ("inclusion-non-numeric", "/fed/v1/proof/inclusion", {"index": "x", "tree_size": "5"}),
    ("inclusion-huge", "/fed/v1/proof/inclusion", {"index": "0", "tree_size": "9" * 18}),
    ("inclusion-huger", "/fed/v1/proof/inclusion", {"index": "0", "tree_size": "9" * 30}),
    ("inclusion-missing", "/fed/v1/proof/inclusion", {"index": "0"}),
    ("consistency-from-zero", "/fed/v1/proof/consistency", {"from": "0", "to": "5"}),
    ("consistency-from-above-to", "/fed/v1/proof/consistency", {"from": "6", "to": "5"}),
    ("consistency-to-beyond-log", "/fed/v1/proof/consistency", {"from": "5", "to": "11"}),
    ("consistency-negative-from", "/fed/v1/proof/consistency", {"from": "-1", "to": "5"}),
    ("consistency-huge-to", "/fed/v1/proof/consistency", {"from": "1", "to": "9" * 18}),
    ("consistency-missing-from", "/fed/v1/proof/consistency", {"to": "5"}),
]
BAD_RECORD_IDS = [
    ("record-unknown", "sha256:" + "0" * 64, 404),
    ("record-uppercase", "sha256:" + "A" * 64, 400),
    ("record-short", "sha256:" + "0" * 63, 400),
    ("record-other-hash", "sha512:" + "0" * 64, 400),
    ("record-no-prefix", "0" * 64, 400),
    ("record-long", "sha256:" + "0" * 64 + "0", 400),
    ("record-not-hex", "sha256%3A" + "g" * 64, 400),
]


@INPUT_ONLY
async def test_bad_read_parameters_are_problems(
    node_factory, make_key, make_envelope, check_problem, subtests
):
    node = await node_factory()
    await populate(node, make_key, make_envelope, 10)
    for case, path, query in BAD_READS:
        with subtests.test(case):
            check_problem(await node.get(path, params=query), 400)
    for case, record_id, status in BAD_RECORD_IDS:
        with subtests.test(case):
            check_problem(await node.get(f"/fed/v1/records/{record_id}"), status)


async def test_inclusion_and_consistency_proofs_verify(node_factory, make_key, make_envelope):
    node = await node_factory()
    await populate(node, make_key, make_envelope, LOG_SIZE)
    hashes = [leaf_hash(leaf) for leaf in await node.leaves(0, LOG_SIZE)]
    roots = {size: tree_root(hashes[:size]) for size in range(1, LOG_SIZE + 1)}

    async def inclusion(index: int, size: int) -> None:
        reply = await node.get(
            "/fed/v1/proof/inclusion", params={"index": str(index), "tree_size": str(size)}
        )
        assert reply.status == 200, reply.body
        data = reply.json()
        assert (data["leaf_index"], data["tree_size"]) == (index, size)
        proof = [base64.b64decode(h, validate=True) for h in data["hashes"]]
        verify_inclusion(hashes[index], index, size, proof, roots[size])

    sizes = [1, 2, 8, 13, 17, 33, 40]  # every index of each
    await asyncio.gather(*(inclusion(i, size) for size in sizes for i in range(size)))

    async def consistency(old: int, new: int) -> None:
        reply = await node.get(
            "/fed/v1/proof/consistency", params={"from": str(old), "to": str(new)}
        )
        assert reply.status == 200, reply.body
        data = reply.json()
        assert (data["from"], data["to"]) == (old, new)
        proof = [base64.b64decode(h, validate=True) for h in data["hashes"]]
        verify_consistency(old, new, roots[old], roots[new], proof)

    pairs = [(1, 2), (1, 40), (2, 40), (3, 7), (7, 8), (8, 16), (13, 40), (16, 32), (17, 40)]
    pairs += [(32, 33), (39, 40), (40, 40), (5, 5)]
    await asyncio.gather(*(consistency(old, new) for old, new in pairs))


async def test_record_by_id_serves_the_envelope(node_factory, make_key, make_envelope):
    node = await node_factory()
    ada = make_key("ada")
    await node.admit(ada.did)
    envelope = make_envelope(ada, body={"display_name": "Ada", "contact": "a@example.org"})
    posted = (await node.post_envelope(envelope, ada)).json()
    reply = await node.get(f"/fed/v1/records/{posted['id']}")
    assert reply.status == 200
    assert "immutable" in reply.headers["Cache-Control"]
    assert reply.json() == {"index": 1, "envelope": json.loads(leaf_bytes(envelope))}
