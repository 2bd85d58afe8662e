"""Checkpoints and Merkle proofs of protocol/ against Go's golang.org/x/mod/sumdb.

DESIGN.md §3: a checkpoint must verify with Go's sumdb/note and its proofs
with sumdb/tlog. Each direction is checked: Go verifies what Python signs and
proves, and Python verifies what Go proves from leaves it hashed itself.
Expected roots and leaf hashes come from hashlib or from Go, never from the
code under test alone.
"""

from __future__ import annotations

import base64
import hashlib
import random
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.checkpoint import (
    ALG_COSIGNATURE_V1,
    Checkpoint,
    NoteVerifier,
    cosign_checkpoint,
    sign_checkpoint,
    sign_note,
)
from protocol.errors import InvalidProof
from protocol.keys import AgentKey
from protocol.merkle import (
    MemoryHashStore,
    consistency_proof,
    inclusion_proof,
    root,
    verify_consistency,
    verify_inclusion,
)
from protocol.records import Record
from protocol.signing import leaf_bytes, sign

pytestmark = pytest.mark.interop

LOG_KEY = AgentKey.from_seed(bytes(range(32)))
OTHER_KEY = AgentKey.from_seed(bytes(range(32, 64)))
WITNESS_KEY = AgentKey.from_seed(bytes(range(64, 96)))
ORIGIN = "coop-a.example.org/fabcommons/log"
WITNESS = "coop-b.example.org/witness"
TREE_SIZES = (1, 2, 3, 7, 8, 9, 100, 1000)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def sha256_leaf(data: bytes) -> bytes:
    # RFC 9162 §2.1.1, computed here with hashlib rather than protocol.merkle.
    return hashlib.sha256(b"\x00" + data).digest()


def vkey(name: str = ORIGIN, key: AgentKey = LOG_KEY) -> str:
    return NoteVerifier(name, key.public_key).vkey


def random_leaves(n: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [rng.randbytes(rng.randrange(0, 120)) for _ in range(n)]


def envelope_leaves(n: int) -> list[bytes]:
    """Leaves as a real log holds them: JCS of signed envelopes."""
    leaves = []
    for i in range(n):
        record = Record(
            type="member.profile",
            author=LOG_KEY.did,
            created=f"2025-01-0{i + 1}T00:00:00Z",
            body={"name": f"member {i}", "contact": f"m{i}@example.org"},
        )
        leaves.append(leaf_bytes(sign(record, LOG_KEY)))
    return leaves


def sample_sizes(n: int) -> list[int]:
    """Tree sizes worth proving in a tree of n leaves: edges, powers of two, middle."""
    power = 1 << (n.bit_length() - 1)
    return sorted({s for s in (1, 2, 3, power - 1, power, n // 2, n - 1, n) if 1 <= s <= n})


def sample_indices(size: int, rng: random.Random) -> list[int]:
    picked = {0, 1, size // 2, size - 1, *rng.sample(range(size), min(size, 3))}
    return sorted(i for i in picked if 0 <= i < size)


# -- checkpoints ---------------------------------------------------------------


CHECKPOINTS = [
    pytest.param(Checkpoint(ORIGIN, 0, hashlib.sha256(b"").digest()), id="empty-log"),
    pytest.param(Checkpoint(ORIGIN, 1, sha256_leaf(b"first")), id="one-leaf"),
    pytest.param(Checkpoint(ORIGIN, 20852163, hashlib.sha256(b"root").digest()), id="large-size"),
    pytest.param(
        Checkpoint(ORIGIN, 9, bytes(32), ("extension line one", "ext-two")),
        id="extension-lines",
    ),
    pytest.param(
        Checkpoint("example.com/behind-the-sofa", 2**63 - 1, bytes(range(32))), id="max-size"
    ),
]


@pytest.mark.parametrize("checkpoint", CHECKPOINTS)
def test_go_opens_signed_checkpoint(go_tools: Any, checkpoint: Checkpoint) -> None:
    note = sign_checkpoint(checkpoint, LOG_KEY)
    answer = go_tools.verify({"vkey": vkey(checkpoint.origin), "note": note.decode("utf-8")})
    assert answer["signers"] == [checkpoint.origin]
    assert answer["unverified_signers"] == []
    assert answer["checkpoint"] == {
        "origin": checkpoint.origin,
        "size": checkpoint.size,
        "root": b64(checkpoint.root_hash),
        "extensions": list(checkpoint.extensions),
    }


def test_vkey_matches_signed_note_spec() -> None:
    # C2SP signed-note: key hash = SHA-256(name ‖ "\n" ‖ 0x01 ‖ key)[:4], hex.
    expected_hash = hashlib.sha256(ORIGIN.encode() + b"\n\x01" + LOG_KEY.public_key).digest()[:4]
    material = b64(b"\x01" + LOG_KEY.public_key)
    assert vkey() == f"{ORIGIN}+{expected_hash.hex()}+{material}"


def _replace_line(note: bytes, old: bytes, new: bytes) -> bytes:
    assert note.count(old) == 1
    return note.replace(old, new)


def _flip_signature_byte(note: bytes) -> bytes:
    text, _, sig_line = note[:-1].rpartition(b"\n")
    prefix, _, encoded = sig_line.rpartition(b" ")
    raw = bytearray(base64.b64decode(encoded))
    raw[10] ^= 0x01  # inside the Ed25519 signature, after the 4-byte key hash
    return text + b"\n" + prefix + b" " + base64.b64encode(bytes(raw)) + b"\n"


_CP = Checkpoint(ORIGIN, 42, hashlib.sha256(b"forty-two").digest())
_NOTE = sign_checkpoint(_CP, LOG_KEY)

TAMPERED: list[Any] = [
    pytest.param(
        _replace_line(_NOTE, b"\n42\n", b"\n43\n"), vkey(), "invalid signature", id="size-changed"
    ),
    pytest.param(
        _replace_line(_NOTE, b64(_CP.root_hash).encode(), b64(bytes(32)).encode()),
        vkey(),
        "invalid signature",
        id="root-changed",
    ),
    pytest.param(
        _replace_line(_NOTE, ORIGIN.encode() + b"\n42", b"coop-z.example.org/log\n42"),
        vkey(),
        "invalid signature",
        id="origin-changed",
    ),
    pytest.param(_flip_signature_byte(_NOTE), vkey(), "invalid signature", id="signature-flipped"),
    pytest.param(
        sign_checkpoint(_CP, OTHER_KEY), vkey(), "no verifiable signatures", id="other-key"
    ),
    pytest.param(
        _NOTE, vkey(key=OTHER_KEY), "no verifiable signatures", id="verifier-of-other-key"
    ),
    pytest.param(_NOTE.replace(b"\n\n", b"\n"), vkey(), "malformed note", id="no-blank-line"),
    pytest.param(_NOTE[:-1], vkey(), "malformed note", id="no-final-newline"),
    pytest.param(
        sign_note(b"coop-z.example.org/log\n42\n" + _NOTE.split(b"\n")[2] + b"\n", ORIGIN, LOG_KEY),
        vkey(),
        "is not the key name",
        id="origin-not-key-name",
    ),
    pytest.param(
        sign_note(ORIGIN.encode() + b"\n042\n" + _NOTE.split(b"\n")[2] + b"\n", ORIGIN, LOG_KEY),
        vkey(),
        "malformed tree size",
        id="size-leading-zero",
    ),
    pytest.param(
        sign_note(ORIGIN.encode() + b"\n42\n", ORIGIN, LOG_KEY),
        vkey(),
        "needs at least 3",
        id="no-root-line",
    ),
]


@pytest.mark.parametrize(("note", "key", "message"), TAMPERED)
def test_go_refuses_tampered_checkpoint(go_tools: Any, note: bytes, key: str, message: str) -> None:
    refusal = go_tools.refusal("verify", {"vkey": key, "note": note.decode("utf-8")})
    assert message in refusal


def _cosigned_note(timestamp: int) -> bytes:
    line = cosign_checkpoint(_CP.text(), WITNESS, WITNESS_KEY, timestamp=timestamp).line()
    return _NOTE + line.encode("utf-8")


WITNESS_VKEY = NoteVerifier(WITNESS, WITNESS_KEY.public_key, ALG_COSIGNATURE_V1).vkey


@pytest.mark.parametrize("timestamp", [0, 1679315147, 2**63 - 1], ids=["zero", "2023", "max"])
def test_go_opens_cosigned_checkpoint_with_log_key(go_tools: Any, timestamp: int) -> None:
    note = _cosigned_note(timestamp)
    answer = go_tools.verify({"vkey": vkey(), "note": note.decode("utf-8")})
    assert answer["signers"] == [ORIGIN]
    assert answer["unverified_signers"] == [WITNESS]
    assert answer["checkpoint"]["size"] == 42
    # The same note, with the cosignature checked by Go's own code from the
    # C2SP tlog-cosignature text (key type 0x04, timestamp ‖ signature).
    answer = go_tools.verify(
        {"vkey": vkey(), "note": note.decode("utf-8"), "witnesses": [WITNESS_VKEY]}
    )
    assert answer["witnesses"] == {WITNESS_VKEY: timestamp}


def test_vkey_of_witness_has_type_0x04() -> None:
    expected_hash = hashlib.sha256(WITNESS.encode() + b"\n\x04" + WITNESS_KEY.public_key).digest()
    material = b64(b"\x04" + WITNESS_KEY.public_key)
    witness_vkey = NoteVerifier(WITNESS, WITNESS_KEY.public_key, ALG_COSIGNATURE_V1).vkey
    assert witness_vkey == f"{WITNESS}+{expected_hash[:4].hex()}+{material}"
    assert witness_vkey == WITNESS_VKEY


def test_go_refuses_cosignature_over_other_checkpoint(go_tools: Any) -> None:
    other = Checkpoint(ORIGIN, 41, _CP.root_hash).text()
    line = cosign_checkpoint(other, WITNESS, WITNESS_KEY, timestamp=5).line()
    note = _NOTE + line.encode("utf-8")
    # The log signature still holds; only the witness check fails.
    assert go_tools.verify({"vkey": vkey(), "note": note.decode("utf-8")})["signers"] == [ORIGIN]
    refusal = go_tools.refusal(
        "verify", {"vkey": vkey(), "note": note.decode("utf-8"), "witnesses": [WITNESS_VKEY]}
    )
    assert "does not verify" in refusal


def test_go_refuses_missing_cosignature(go_tools: Any) -> None:
    refusal = go_tools.refusal(
        "verify", {"vkey": vkey(), "note": _NOTE.decode("utf-8"), "witnesses": [WITNESS_VKEY]}
    )
    assert "no cosignature" in refusal


# -- Merkle trees: Go checks Python ---------------------------------------------


def _tree_cases() -> list[Any]:
    cases = [pytest.param(random_leaves(n, seed=n), id=f"random-{n}") for n in TREE_SIZES]
    cases.append(pytest.param(envelope_leaves(5), id="envelopes-5"))
    return cases


def _python_proofs(
    leaves: Sequence[bytes], rng: random.Random
) -> tuple[MemoryHashStore, list[dict[str, Any]], list[dict[str, Any]]]:
    store = MemoryHashStore([sha256_leaf(leaf) for leaf in leaves])
    sizes = sample_sizes(len(leaves))
    inclusion = [
        {
            "index": i,
            "tree_size": m,
            "hashes": [b64(h) for h in inclusion_proof(i, m, store)],
            "leaf": b64(leaves[i]),
        }
        for m in sizes
        for i in sample_indices(m, rng)
    ]
    consistency = [
        {"from": a, "to": b, "hashes": [b64(h) for h in consistency_proof(a, b, store)]}
        for a in sizes
        for b in sizes
        if a <= b
    ]
    return store, inclusion, consistency


@pytest.mark.parametrize("leaves", _tree_cases())
def test_go_checks_python_tree(go_tools: Any, leaves: list[bytes]) -> None:
    n = len(leaves)
    store, inclusion, consistency = _python_proofs(leaves, random.Random(n))
    our_root = store.frontier.root()
    assert root([sha256_leaf(leaf) for leaf in leaves]) == our_root
    note = sign_checkpoint(Checkpoint(ORIGIN, n, our_root), LOG_KEY)
    answer = go_tools.verify(
        {
            "vkey": vkey(),
            "note": note.decode("utf-8"),
            "leaves": [b64(leaf) for leaf in leaves],
            "inclusion": inclusion,
            "consistency": consistency,
        }
    )
    # tlog.TreeHash over Go's own hashes of the leaves is our root.
    assert answer["leaves_root"] == b64(our_root)
    assert answer["checkpoint"]["root"] == b64(our_root)
    assert answer["inclusion_checked"] == len(inclusion)
    assert answer["consistency_checked"] == len(consistency)


def test_go_checks_proofs_against_checkpoint_alone(go_tools: Any) -> None:
    """What a client of a running node has: a note, proofs and a few leaves, no full tree."""
    leaves = random_leaves(100, seed=7)
    store = MemoryHashStore([sha256_leaf(leaf) for leaf in leaves])
    old_root = root([sha256_leaf(leaf) for leaf in leaves[:60]])
    note = sign_checkpoint(Checkpoint(ORIGIN, 100, store.frontier.root()), LOG_KEY)
    answer = go_tools.verify(
        {
            "vkey": vkey(),
            "note": note.decode("utf-8"),
            "inclusion": [
                {
                    "index": i,
                    "tree_size": 100,
                    "hashes": [b64(h) for h in inclusion_proof(i, 100, store)],
                    "leaf": b64(leaves[i]),
                }
                for i in (0, 37, 99)
            ],
            "consistency": [
                {
                    "from": 60,
                    "to": 100,
                    "hashes": [b64(h) for h in consistency_proof(60, 100, store)],
                    "old_root": b64(old_root),
                }
            ],
        }
    )
    assert answer["leaves_root"] is None
    assert (answer["inclusion_checked"], answer["consistency_checked"]) == (3, 1)


def _tamper_inclusion(item: dict[str, Any]) -> None:
    raw = bytearray(base64.b64decode(item["hashes"][0]))
    raw[0] ^= 0x80
    item["hashes"][0] = b64(bytes(raw))


def _reverse_hashes(item: dict[str, Any]) -> None:
    item["hashes"].reverse()


def _drop_last_hash(item: dict[str, Any]) -> None:
    item["hashes"].pop()


def _other_index(item: dict[str, Any]) -> None:
    item["index"] += 1


def _other_leaf(item: dict[str, Any]) -> None:
    item["leaf"] = b64(b"not the leaf")


INCLUSION_TAMPERING = [
    pytest.param(_tamper_inclusion, id="hash-flipped"),
    pytest.param(_reverse_hashes, id="hashes-reversed"),
    pytest.param(_drop_last_hash, id="hash-dropped"),
    pytest.param(_other_index, id="other-index"),
    pytest.param(_other_leaf, id="other-leaf"),
]


@pytest.mark.parametrize("tamper", INCLUSION_TAMPERING)
def test_go_refuses_tampered_inclusion(
    go_tools: Any, tamper: Callable[[dict[str, Any]], None]
) -> None:
    leaves = random_leaves(13, seed=13)
    store = MemoryHashStore([sha256_leaf(leaf) for leaf in leaves])
    item = {
        "index": 5,
        "tree_size": 13,
        "hashes": [b64(h) for h in inclusion_proof(5, 13, store)],
        "leaf": b64(leaves[5]),
        "root": b64(store.frontier.root()),
    }
    assert (
        go_tools.verify({"inclusion": [dict(item, hashes=list(item["hashes"]))]})[
            "inclusion_checked"
        ]
        == 1
    )
    tamper(item)
    assert "tlog.CheckRecord" in go_tools.refusal("verify", {"inclusion": [item]})


CONSISTENCY_TAMPERING = [
    pytest.param(_tamper_inclusion, id="hash-flipped"),
    pytest.param(_reverse_hashes, id="hashes-reversed"),
    pytest.param(_drop_last_hash, id="hash-dropped"),
    pytest.param(lambda item: item.update(old_root=b64(bytes(32))), id="other-old-root"),
    pytest.param(lambda item: item.update({"from": 6}), id="other-old-size"),
]


@pytest.mark.parametrize("tamper", CONSISTENCY_TAMPERING)
def test_go_refuses_tampered_consistency(
    go_tools: Any, tamper: Callable[[dict[str, Any]], None]
) -> None:
    leaf_hashes = [sha256_leaf(leaf) for leaf in random_leaves(13, seed=31)]
    store = MemoryHashStore(leaf_hashes)
    item = {
        "from": 5,
        "to": 13,
        "hashes": [b64(h) for h in consistency_proof(5, 13, store)],
        "old_root": b64(root(leaf_hashes[:5])),
        "new_root": b64(store.frontier.root()),
    }
    assert (
        go_tools.verify({"consistency": [dict(item, hashes=list(item["hashes"]))]})[
            "consistency_checked"
        ]
        == 1
    )
    tamper(item)
    assert "tlog.CheckTree" in go_tools.refusal("verify", {"consistency": [item]})


def test_go_refuses_root_that_contradicts_the_leaves(go_tools: Any) -> None:
    leaves = random_leaves(9, seed=9)
    note = sign_checkpoint(Checkpoint(ORIGIN, 9, bytes(32)), LOG_KEY)
    refusal = go_tools.refusal(
        "verify",
        {"vkey": vkey(), "note": note.decode("utf-8"), "leaves": [b64(x) for x in leaves]},
    )
    assert "the checkpoint gives root" in refusal


# -- Merkle trees: Python checks Go ---------------------------------------------


def _go_proofs(go_tools: Any, leaves: Sequence[bytes], rng: random.Random) -> dict[str, Any]:
    sizes = sample_sizes(len(leaves))
    return dict(
        go_tools.prove(
            {
                "leaves": [b64(leaf) for leaf in leaves],
                "roots": sizes,
                "inclusion": [
                    {"index": i, "tree_size": m} for m in sizes for i in sample_indices(m, rng)
                ],
                "consistency": [{"from": a, "to": b} for a in sizes for b in sizes if a <= b],
            }
        )
    )


def _decode_all(hashes: Sequence[str]) -> list[bytes]:
    return [base64.b64decode(h, validate=True) for h in hashes]


@pytest.mark.parametrize("leaves", _tree_cases())
def test_python_checks_go_tree(go_tools: Any, leaves: list[bytes]) -> None:
    answer = _go_proofs(go_tools, leaves, random.Random(len(leaves) + 1))
    leaf_hashes = [sha256_leaf(leaf) for leaf in leaves]
    assert _decode_all(answer["leaf_hashes"]) == leaf_hashes
    go_roots = {r["size"]: base64.b64decode(r["root"]) for r in answer["roots"]}
    for size, go_root in go_roots.items():
        assert root(leaf_hashes[:size]) == go_root, f"root of size {size}"
    store = MemoryHashStore(leaf_hashes)
    for item in answer["inclusion"]:
        index, size = item["index"], item["tree_size"]
        proof = _decode_all(item["hashes"])
        verify_inclusion(leaf_hashes[index], index, size, proof, go_roots[size])
        # Both sides list the audit path leaf side first (RFC 9162 §2.1.3.1).
        assert proof == inclusion_proof(index, size, store), f"inclusion {index} in {size}"
    for item in answer["consistency"]:
        old, new = item["from"], item["to"]
        proof = _decode_all(item["hashes"])
        verify_consistency(old, new, go_roots[old], go_roots[new], proof)
        assert proof == consistency_proof(old, new, store), f"consistency {old} -> {new}"


def test_python_refuses_tampered_go_proofs(go_tools: Any) -> None:
    leaves = random_leaves(21, seed=21)
    answer = go_tools.prove(
        {
            "leaves": [b64(leaf) for leaf in leaves],
            "roots": [8, 21],
            "inclusion": [{"index": 10, "tree_size": 21}],
            "consistency": [{"from": 8, "to": 21}],
        }
    )
    roots = {r["size"]: base64.b64decode(r["root"]) for r in answer["roots"]}
    leaf_hash = sha256_leaf(leaves[10])
    inclusion = _decode_all(answer["inclusion"][0]["hashes"])
    consistency = _decode_all(answer["consistency"][0]["hashes"])
    verify_inclusion(leaf_hash, 10, 21, inclusion, roots[21])
    verify_consistency(8, 21, roots[8], roots[21], consistency)
    with pytest.raises(InvalidProof):
        verify_inclusion(leaf_hash, 10, 21, inclusion[::-1], roots[21])
    with pytest.raises(InvalidProof):
        verify_inclusion(leaf_hash, 11, 21, inclusion, roots[21])
    with pytest.raises(InvalidProof):
        verify_consistency(8, 21, roots[8], roots[21], consistency[::-1])
    with pytest.raises(InvalidProof):
        verify_consistency(8, 21, roots[21], roots[8], consistency)


@settings(max_examples=15, deadline=None)
@given(
    size=st.integers(min_value=1, max_value=300),
    data=st.data(),
)
def test_go_and_python_agree_on_random_trees(go_tools: Any, size: int, data: Any) -> None:
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    old = data.draw(st.integers(min_value=1, max_value=size), label="old")
    leaves = [i.to_bytes(4, "big") for i in range(size)]
    leaf_hashes = [sha256_leaf(leaf) for leaf in leaves]
    store = MemoryHashStore(leaf_hashes)
    answer = go_tools.prove(
        {
            "leaves": [b64(leaf) for leaf in leaves],
            "roots": [old, size],
            "inclusion": [{"index": index, "tree_size": size}],
            "consistency": [{"from": old, "to": size}],
        }
    )
    assert answer["roots"] == [
        {"size": old, "root": b64(root(leaf_hashes[:old]))},
        {"size": size, "root": b64(store.frontier.root())},
    ]
    assert answer["inclusion"][0]["hashes"] == [b64(h) for h in inclusion_proof(index, size, store)]
    assert answer["consistency"][0]["hashes"] == [
        b64(h) for h in consistency_proof(old, size, store)
    ]
