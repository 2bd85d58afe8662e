"""protocol.merkle: RFC 9162 (RFC 6962) trees, proofs and the compact frontier.

Published vectors come from github.com/transparency-dev/merkle: the leaf
inputs, node hashes, roots and compact ranges of testonly/constants.go, and
the proofs of proof/verify_test.go. Everything else is checked against a
recursive MTH written here from RFC 9162 §2.1.1.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.errors import InvalidProof
from protocol.merkle import (
    EMPTY_ROOT,
    Frontier,
    MemoryHashStore,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def mth(leaves: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.1 MTH over leaf *inputs*, recursively, as the RFC states it."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


# transparency-dev/merkle, testonly/constants.go: LeafInputs().
LEAF_INPUTS = [
    h(""),
    h("00"),
    h("10"),
    h("2021"),
    h("3031"),
    h("40414243"),
    h("5051525354555657"),
    h("606162636465666768696a6b6c6d6e6f"),
]
# testonly/constants.go: NodeHashes(), by level then index.
NODE_HASHES = [
    [
        h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
        h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
        h("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
        h("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
        h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        h("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
        h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
        h("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
    ],
    [
        h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
        h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
        h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
    ],
    [
        h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
    ],
    [
        h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
    ],
]
# testonly/constants.go: RootHashes(), indexed by tree size from 0 (EmptyRootHash()).
ROOTS = [
    h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]
# testonly/constants.go: CompactTrees(), the frontier after each size, largest subtree first.
COMPACT_TREES = [
    [],
    [NODE_HASHES[0][0]],
    [NODE_HASHES[1][0]],
    [NODE_HASHES[1][0], NODE_HASHES[0][2]],
    [NODE_HASHES[2][0]],
    [NODE_HASHES[2][0], NODE_HASHES[0][4]],
    [NODE_HASHES[2][0], NODE_HASHES[1][2]],
    [NODE_HASHES[2][0], NODE_HASHES[1][2], NODE_HASHES[0][6]],
    [NODE_HASHES[3][0]],
]

# proof/verify_test.go: inclusionProofs, as (leaf number from 1, tree size, proof).
INCLUSION_VECTORS = [
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (3, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        2,
        5,
        [
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
]
# proof/verify_test.go: consistencyProofs, as (size1, size2, proof).
CONSISTENCY_VECTORS = [
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]
# proof/verify_test.go: sha256SomeHash, a hash that is in no tree.
SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")

LEAF_HASHES = [leaf_hash(x) for x in LEAF_INPUTS]
STORE8 = MemoryHashStore(LEAF_HASHES)


# --- published vectors -------------------------------------------------------------


def test_hash_prefixes() -> None:
    assert leaf_hash(b"ab") == hashlib.sha256(b"\x00ab").digest()
    assert (
        node_hash(b"L" * 32, b"R" * 32) == hashlib.sha256(b"\x01" + b"L" * 32 + b"R" * 32).digest()
    )
    assert ROOTS[0] == EMPTY_ROOT


@pytest.mark.parametrize("size", range(9))
def test_roots(size: int) -> None:
    assert root(LEAF_HASHES[:size]) == ROOTS[size]
    assert mth(LEAF_INPUTS[:size]) == ROOTS[size]
    assert MemoryHashStore(LEAF_HASHES[:size]).frontier.root() == ROOTS[size]


def test_node_hashes() -> None:
    for level, hashes in enumerate(NODE_HASHES):
        for index, expected in enumerate(hashes):
            assert STORE8.read_hashes([(level, index)]) == [expected]
    assert NODE_HASHES[0] == LEAF_HASHES


@pytest.mark.parametrize("size", range(9))
def test_compact_trees(size: int) -> None:
    frontier = Frontier()
    for leaf in LEAF_HASHES[:size]:
        frontier.append(leaf)
    assert frontier.size == size
    assert frontier.hashes == COMPACT_TREES[size]


@pytest.mark.parametrize(
    ("leaf", "size", "proof"),
    INCLUSION_VECTORS,
    ids=[f"{v[0]}-of-{v[1]}" for v in INCLUSION_VECTORS],
)
def test_inclusion_vectors(leaf: int, size: int, proof: list[bytes]) -> None:
    store = MemoryHashStore(LEAF_HASHES[:size])
    assert inclusion_proof(leaf - 1, size, store) == proof
    assert inclusion_proof(leaf - 1, size, STORE8) == proof
    verify_inclusion(LEAF_HASHES[leaf - 1], leaf - 1, size, proof, ROOTS[size])


def _inclusion_probes(
    index: int, size: int, proof: list[bytes], root_hash: bytes, leaf: bytes
) -> list[tuple[str, bytes, int, int, list[bytes], bytes]]:
    """proof/verify_test.go corruptInclusionProof: every probe must fail."""
    probes = [
        ("index-1", leaf, index - 1, size, proof, root_hash),
        ("index+1", leaf, index + 1, size, proof, root_hash),
        ("index^2", leaf, index ^ 2, size, proof, root_hash),
        ("size*2", leaf, index, size * 2, proof, root_hash),
        ("size/2", leaf, index, size // 2, proof, root_hash),
        ("wrong-leaf", b"WrongLeaf", index, size, proof, root_hash),
        ("empty-root", leaf, index, size, proof, EMPTY_ROOT),
        ("random-root", leaf, index, size, proof, SOME_HASH),
        ("trailing-garbage", leaf, index, size, [*proof, b""], root_hash),
        ("trailing-root", leaf, index, size, [*proof, root_hash], root_hash),
        ("preceding-garbage", leaf, index, size, [b"", *proof], root_hash),
        ("preceding-root", leaf, index, size, [root_hash, *proof], root_hash),
    ]
    for i in range(len(proof)):
        wrong = list(proof)
        wrong[i] = bytes([wrong[i][0] ^ 8]) + wrong[i][1:]
        probes.append((f"modified-{i}", leaf, index, size, wrong, root_hash))
    if proof:
        probes.append(("removed-component", leaf, index, size, proof[:-1], root_hash))
    if len(proof) > 1:
        probes.append(
            ("inserted-component", leaf, index, size, [proof[0], SOME_HASH, *proof[1:]], root_hash)
        )
    return probes


@pytest.mark.parametrize(
    ("leaf", "size", "proof"),
    INCLUSION_VECTORS[1:],
    ids=[f"{v[0]}-of-{v[1]}" for v in INCLUSION_VECTORS[1:]],
)
def test_inclusion_vectors_corrupted(leaf: int, size: int, proof: list[bytes]) -> None:
    accepted = []
    for name, leaf_h, index, size_, proof_, root_h in _inclusion_probes(
        leaf - 1, size, proof, ROOTS[size], LEAF_HASHES[leaf - 1]
    ):
        try:
            verify_inclusion(leaf_h, index, size_, proof_, root_h)
        except InvalidProof:
            continue
        accepted.append(name)
    assert accepted == []


def test_inclusion_single_entry() -> None:
    # proof/verify_test.go TestVerifyInclusionSingleEntry.
    single = leaf_hash(b"data")
    verify_inclusion(single, 0, 1, [], single)
    for leaf, root_h in [(single, b""), (b"", single)]:
        with pytest.raises(InvalidProof):
            verify_inclusion(leaf, 0, 1, [], root_h)


@pytest.mark.parametrize(
    ("leaf", "root_hash"),
    [(b"", b""), (b"x", b"x"), (b"\0" * 33, b"\0" * 33)],
    ids=["empty", "one-byte", "33-bytes"],
)
def test_inclusion_refuses_hashes_that_are_not_32_bytes(leaf: bytes, root_hash: bytes) -> None:
    # proof/verify_test.go TestVerifyInclusionSingleEntry, case {emptyHash, emptyHash}
    # ("Wrong hash size"): Go refuses a leaf hash that is not 32 bytes.
    with pytest.raises(InvalidProof):
        verify_inclusion(leaf, 0, 1, [], root_hash)


@pytest.mark.parametrize("bad", [b"", b"x" * 12, b"\0" * 31, b"\0" * 33], ids=len)
def test_consistency_refuses_roots_that_are_not_32_bytes(bad: bytes) -> None:
    proof = consistency_proof(3, 8, STORE8)
    for old_root, new_root in [(bad, ROOTS[8]), (ROOTS[3], bad)]:
        with pytest.raises(InvalidProof):
            verify_consistency(3, 8, old_root, new_root, proof)
    with pytest.raises(InvalidProof):
        verify_consistency(1, 1, bad, bad, [])


@pytest.mark.parametrize(("index", "size"), [(0, 0), (0, 1), (1, 0), (2, 1)])
def test_inclusion_bad_index_or_size(index: int, size: int) -> None:
    # proof/verify_test.go TestVerifyInclusion probes.
    for leaf, root_h in [(SOME_HASH, b""), (b"", EMPTY_ROOT), (SOME_HASH, EMPTY_ROOT)]:
        with pytest.raises(InvalidProof):
            verify_inclusion(leaf, index, size, [], root_h)


@pytest.mark.parametrize(
    ("size1", "size2", "proof"),
    CONSISTENCY_VECTORS,
    ids=[f"{v[0]}-to-{v[1]}" for v in CONSISTENCY_VECTORS],
)
def test_consistency_vectors(size1: int, size2: int, proof: list[bytes]) -> None:
    store = MemoryHashStore(LEAF_HASHES[:size2])
    assert consistency_proof(size1, size2, store) == proof
    assert consistency_proof(size1, size2, STORE8) == proof
    verify_consistency(size1, size2, ROOTS[size1], ROOTS[size2], proof)


def _consistency_probes(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: list[bytes]
) -> list[tuple[str, int, int, bytes, bytes, list[bytes]]]:
    """proof/verify_test.go corruptConsistencyProof: every probe must fail."""
    probes = [
        ("size1-1", size1 - 1, size2, root1, root2, proof),
        ("size1+1", size1 + 1, size2, root1, root2, proof),
        ("size1^2", size1 ^ 2, size2, root1, root2, proof),
        ("size2*2", size1, size2 * 2, root1, root2, proof),
        ("size2/2", size1, size2 // 2, root1, root2, proof),
        ("wrong-root1", size1, size2, b"WrongRoot", root2, proof),
        ("wrong-root2", size1, size2, root1, b"WrongRoot", proof),
        ("swapped-roots", size1, size2, root2, root1, proof),
        ("empty-proof", size1, size2, root1, root2, []),
        ("trailing-garbage", size1, size2, root1, root2, [*proof, b""]),
        ("trailing-root1", size1, size2, root1, root2, [*proof, root1]),
        ("trailing-root2", size1, size2, root1, root2, [*proof, root2]),
        ("preceding-garbage", size1, size2, root1, root2, [b"", *proof]),
        ("preceding-root1", size1, size2, root1, root2, [root1, *proof]),
        ("preceding-root2", size1, size2, root1, root2, [root2, *proof]),
        ("preceding-proof0", size1, size2, root1, root2, [proof[0], *proof]),
        ("truncated", size1, size2, root1, root2, proof[:-1]),
    ]
    for i in range(len(proof)):
        wrong = list(proof)
        wrong[i] = bytes([wrong[i][0] ^ 16]) + wrong[i][1:]
        probes.append((f"modified-{i}", size1, size2, root1, root2, wrong))
    return probes


@pytest.mark.parametrize(
    ("size1", "size2", "proof"),
    CONSISTENCY_VECTORS[1:],
    ids=[f"{v[0]}-to-{v[1]}" for v in CONSISTENCY_VECTORS[1:]],
)
def test_consistency_vectors_corrupted(size1: int, size2: int, proof: list[bytes]) -> None:
    accepted = []
    for name, s1, s2, r1, r2, p in _consistency_probes(
        size1, size2, ROOTS[size1], ROOTS[size2], proof
    ):
        try:
            verify_consistency(s1, s2, r1, r2, p)
        except InvalidProof:
            continue
        accepted.append(name)
    assert accepted == []


def test_consistency_trivial_cases() -> None:
    # proof/verify_test.go TestVerifyConsistency, the cases with size1 > 0. Go's
    # test uses the 12-byte roots "don't care 1" and "don't care 2"; we refuse
    # roots that are not 32 bytes, so they are hashed to 32 bytes here.
    root1 = hashlib.sha256(b"don't care 1").digest()
    root2 = hashlib.sha256(b"don't care 2").digest()
    verify_consistency(1, 1, root2, root2, [])
    for size1, size2, r1, r2, proof in [
        (1, 1, root1, root2, []),
        (1, 0, root1, root2, []),
        (2, 1, root1, root2, []),
        (1, 2, root1, root2, []),
        (1, 1, EMPTY_ROOT, root2, []),
        (1, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT]),
    ]:
        with pytest.raises(InvalidProof):
            verify_consistency(size1, size2, r1, r2, proof)


# --- every index and every pair of sizes up to 64 --------------------------------------

MAX_SIZE = 64
INPUTS = [b"leaf-%d" % i for i in range(MAX_SIZE)]
HASHES = [leaf_hash(x) for x in INPUTS]
STORE = MemoryHashStore(HASHES)
REF_ROOTS = [mth(INPUTS[:n]) for n in range(MAX_SIZE + 1)]
OTHER = hashlib.sha256(b"not in the tree").digest()


def _flip(proof: list[bytes], i: int) -> list[bytes]:
    wrong = list(proof)
    wrong[i] = bytes([wrong[i][0] ^ 1]) + wrong[i][1:]
    return wrong


@pytest.mark.parametrize("size", range(1, MAX_SIZE + 1))
def test_inclusion_every_index(size: int) -> None:
    small = MemoryHashStore(HASHES[:size])
    for index in range(size):
        proof = inclusion_proof(index, size, STORE)
        assert proof == inclusion_proof(index, size, small)
        verify_inclusion(HASHES[index], index, size, proof, REF_ROOTS[size])
        bad: list[tuple[bytes, int, int, list[bytes], bytes]] = [
            (OTHER, index, size, proof, REF_ROOTS[size]),
            (HASHES[index], index, size, proof, OTHER),
            (HASHES[index], index, size, [*proof, OTHER], REF_ROOTS[size]),
            (HASHES[index], index, size, [*proof, REF_ROOTS[size]], REF_ROOTS[size]),
            (HASHES[index], index, size, [OTHER, *proof], REF_ROOTS[size]),
            (
                HASHES[index],
                index,
                size + 1,
                proof,
                REF_ROOTS[size + 1] if size < MAX_SIZE else OTHER,
            ),
            (HASHES[index], index, size - 1, proof, REF_ROOTS[size - 1]),
            (HASHES[index], size, size, proof, REF_ROOTS[size]),
            (HASHES[index], -1, size, proof, REF_ROOTS[size]),
        ]
        bad += [
            (HASHES[index], index, size, _flip(proof, i), REF_ROOTS[size])
            for i in range(len(proof))
        ]
        if proof:
            bad.append((HASHES[index], index, size, proof[:-1], REF_ROOTS[size]))
            bad.append((HASHES[index], index, size, proof[1:], REF_ROOTS[size]))
        for other_index in {index ^ 1, index + 1, index - 1, size - 1 - index} - {index}:
            if 0 <= other_index < size:
                bad.append((HASHES[index], other_index, size, proof, REF_ROOTS[size]))
        for leaf, i, n, p, r in bad:
            with pytest.raises(InvalidProof):
                verify_inclusion(leaf, i, n, p, r)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_inclusion_wrong_index_or_size(data: st.DataObject) -> None:
    size = data.draw(st.integers(1, MAX_SIZE))
    index = data.draw(st.integers(0, size - 1))
    proof = inclusion_proof(index, size, STORE)
    if size > 1:
        other_index = data.draw(st.sampled_from([i for i in range(size) if i != index]))
        with pytest.raises(InvalidProof):
            verify_inclusion(HASHES[index], other_index, size, proof, REF_ROOTS[size])
    sizes = [n for n in range(index + 1, MAX_SIZE + 1) if n != size]
    if sizes:
        # Claiming another size with that size's root fails.
        other_size = data.draw(st.sampled_from(sizes))
        with pytest.raises(InvalidProof):
            verify_inclusion(HASHES[index], index, other_size, proof, REF_ROOTS[other_size])


@pytest.mark.parametrize("new", range(1, MAX_SIZE + 1))
def test_consistency_every_pair(new: int) -> None:
    small = MemoryHashStore(HASHES[:new])
    for old in range(1, new + 1):
        proof = consistency_proof(old, new, STORE)
        assert proof == consistency_proof(old, new, small)
        r1, r2 = REF_ROOTS[old], REF_ROOTS[new]
        verify_consistency(old, new, r1, r2, proof)
        if old == new:
            assert proof == []
            bad = [(old, new, r1, OTHER, []), (old, new, r1, r2, [OTHER])]
        else:
            bad = [
                (old, new, OTHER, r2, proof),
                (old, new, r1, OTHER, proof),
                (old, new, r2, r1, proof),
                (old, new, r1, r2, []),
                (old, new, r1, r2, proof[:-1]),
                (old, new, r1, r2, proof[1:]),
                (old, new, r1, r2, [*proof, OTHER]),
                (old, new, r1, r2, [OTHER, *proof]),
                (old, new, r1, r2, [*proof, r2]),
                (new, old, r2, r1, proof),
            ]
            bad += [(old, new, r1, r2, _flip(proof, i)) for i in range(len(proof))]
            # Other sizes, with the roots of those sizes. (With the original roots a
            # neighbouring size of the same shape can verify: the roots do not bind
            # the sizes, which is why a checkpoint signs both.)
            for o, n in [(old - 1, new), (old + 1, new), (old, new - 1), (old, new + 1)]:
                if (o, n) != (old, new) and 0 < o <= n <= MAX_SIZE:
                    bad.append((o, n, REF_ROOTS[o], REF_ROOTS[n], proof))
            bad.append((old, new * 2, r1, r2, proof))
            if old <= new // 2:
                bad.append((old, new // 2, r1, r2, proof))
        for o, n, a, b, p in bad:
            with pytest.raises(InvalidProof):
                verify_consistency(o, n, a, b, p)


@pytest.mark.parametrize(
    ("index", "size"),
    [(0, 0), (1, 1), (-1, 5), (5, 5)],
    ids=["empty", "past-end", "negative", "at-size"],
)
def test_inclusion_proof_of_a_leaf_outside_the_tree(index: int, size: int) -> None:
    with pytest.raises(ValueError):
        inclusion_proof(index, size, STORE)


@pytest.mark.parametrize(("old", "new"), [(0, 5), (6, 5), (-1, 3)])
def test_consistency_proof_of_bad_sizes(old: int, new: int) -> None:
    with pytest.raises(ValueError):
        consistency_proof(old, new, STORE)


def test_proofs_with_too_many_hashes_are_refused() -> None:
    with pytest.raises(InvalidProof):
        verify_inclusion(HASHES[0], 0, 2**62, [OTHER] * 200, OTHER)
    with pytest.raises(InvalidProof):
        verify_consistency(1, 2**62, OTHER, OTHER, [OTHER] * 200)


def test_proof_hashes_must_be_32_bytes() -> None:
    proof = inclusion_proof(3, 8, STORE)
    for bad in (proof[0][:31], proof[0] + b"\0", "x" * 32):
        with pytest.raises(InvalidProof):
            verify_inclusion(HASHES[3], 3, 8, [bad, *proof[1:]], REF_ROOTS[8])  # type: ignore[list-item]


# --- the frontier ----------------------------------------------------------------------


def _complete_subtrees(size: int) -> set[tuple[int, int]]:
    """Every complete subtree (level, index) of a tree of `size` leaves."""
    out = set()
    level = 0
    while (1 << level) <= size:
        out |= {(level, i) for i in range(size >> level)}
        level += 1
    return out


def test_frontier_appends_match_reference_roots() -> None:
    frontier = Frontier()
    assert frontier.root() == REF_ROOTS[0]
    seen: set[tuple[int, int]] = set()
    for n, leaf in enumerate(HASHES, start=1):
        completed = frontier.append(leaf)
        # The subtrees completed by leaf n-1 are those that end at n: one per
        # level 0..k where 2^k divides n, each hashed over its own leaves.
        expected_ids = []
        level = 0
        while n % (1 << level) == 0:
            expected_ids.append((level, (n >> level) - 1))
            level += 1
        assert [(lv, i) for lv, i, _ in completed] == expected_ids
        for lv, i, hash_ in completed:
            assert hash_ == mth(INPUTS[i << lv : (i + 1) << lv])
        seen |= {(lv, i) for lv, i, _ in completed}
        assert seen == _complete_subtrees(n)
        assert frontier.size == n
        assert frontier.root() == REF_ROOTS[n]
        assert root(HASHES[:n]) == REF_ROOTS[n]
        assert Frontier.from_bytes(frontier.to_bytes()) == frontier
        assert frontier.to_bytes() == n.to_bytes(8, "big") + b"".join(frontier.hashes or [])


def test_memory_store_reads_exactly_the_complete_subtrees() -> None:
    for n in range(MAX_SIZE + 1):
        store = MemoryHashStore(HASHES[:n])
        ids = sorted(_complete_subtrees(n))
        assert list(store.read_hashes(ids)) == [
            mth(INPUTS[i << lv : (i + 1) << lv]) for lv, i in ids
        ]
        # The first incomplete subtree of each level is not stored.
        for level in range(7):
            with pytest.raises(KeyError):
                store.read_hashes([(level, n >> level)])


def test_frontier_copy_is_independent() -> None:
    frontier = Frontier()
    for leaf in HASHES[:5]:
        frontier.append(leaf)
    copied = frontier.copy()
    frontier.append(HASHES[5])
    assert copied.size == 5
    assert copied.root() == REF_ROOTS[5]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\0" * 7,
        (1).to_bytes(8, "big"),
        (1).to_bytes(8, "big") + b"\0" * 31,
        (1).to_bytes(8, "big") + b"\0" * 64,
        (3).to_bytes(8, "big") + b"\0" * 32,
        (0).to_bytes(8, "big") + b"\0" * 32,
    ],
    ids=[
        "empty",
        "short-size",
        "missing-hash",
        "short-hash",
        "extra-hash",
        "size-3-one-hash",
        "size-0-one-hash",
    ],
)
def test_frontier_from_bytes_refuses(data: bytes) -> None:
    with pytest.raises(ValueError):
        Frontier.from_bytes(data)


def test_frontier_refuses_hashes_that_do_not_match_its_size() -> None:
    with pytest.raises(ValueError):
        Frontier(size=3, hashes=[OTHER])
