"""RFC 9162 §2.1 Merkle trees: hashing, roots, proofs, and the compact frontier.

Pure functions over hashes. Stored trees are read through `HashReader`, which
returns the hash of complete subtrees addressed as (level, index): the subtree
of the 2^level leaves starting at index·2^level. This mirrors Go's
golang.org/x/mod/sumdb/tlog, so that a store needs O(log n) reads per proof.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from protocol.errors import InvalidProof

__all__ = [
    "EMPTY_ROOT",
    "Frontier",
    "HashReader",
    "MemoryHashStore",
    "SubtreeId",
    "consistency_proof",
    "consistency_subtrees",
    "implied_old_root",
    "inclusion_proof",
    "inclusion_subtrees",
    "leaf_hash",
    "node_hash",
    "prefix_subtrees",
    "root",
    "subtree_hash",
    "verify_consistency",
    "verify_inclusion",
]

SubtreeId = tuple[int, int]
"""(level, index): the complete subtree over leaves [index·2^level, (index+1)·2^level)."""

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
# A proof for a tree of fewer than 2^64 leaves has fewer than 64 hashes per part.
_MAX_PROOF_HASHES = 128


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 ‖ data): RFC 9162 §2.1.1."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 ‖ left ‖ right): RFC 9162 §2.1.1."""
    return hashlib.sha256(b"\x01" + left + right).digest()


class HashReader(Protocol):
    """Read stored hashes of complete subtrees."""

    def read_hashes(self, ids: Sequence[SubtreeId]) -> Sequence[bytes]:
        """Return the hash of each subtree, in order. Raises on a missing one."""
        ...


def _largest_power_of_two_below(n: int) -> int:
    """The k of RFC 9162: the largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def _decompose(start: int, end: int) -> list[SubtreeId]:
    """Split [start, end) into aligned complete subtrees, largest first."""
    ids: list[SubtreeId] = []
    while start < end:
        # The largest aligned block that starts at `start` and fits before `end`.
        level = (start & -start).bit_length() - 1 if start else 63
        while (1 << level) > end - start:
            level -= 1
        ids.append((level, start >> level))
        start += 1 << level
    return ids


def _fold(hashes: Sequence[bytes]) -> bytes:
    """MTH of a range from the hashes of its decomposition (largest first)."""
    result = hashes[-1]
    for h in reversed(hashes[:-1]):
        result = node_hash(h, result)
    return result


def subtree_hash(reader: HashReader, start: int, end: int) -> bytes:
    """MTH of leaves [start, end), where start is aligned as in RFC 9162 proofs."""
    if start >= end:
        raise ValueError("empty range")
    return _fold(reader.read_hashes(_decompose(start, end)))


def _ranges_hashes(reader: HashReader, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
    """MTH of each range, read from the store in one call."""
    decomposed = [_decompose(a, b) for a, b in ranges]
    flat = [sid for ids in decomposed for sid in ids]
    hashes = list(reader.read_hashes(flat))
    if len(hashes) != len(flat):
        raise ValueError("hash reader returned the wrong number of hashes")
    out: list[bytes] = []
    pos = 0
    for ids in decomposed:
        out.append(_fold(hashes[pos : pos + len(ids)]))
        pos += len(ids)
    return out


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of a list of leaf hashes (RFC 9162 §2.1.1), in O(n) time and O(log n) memory."""
    frontier = Frontier()
    for h in leaf_hashes:
        frontier.append(h)
    return frontier.root()


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The ranges whose MTH make the audit path of RFC 9162 §2.1.3.1, leaf side first."""
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _largest_power_of_two_below(hi - lo)
        if index < lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo = lo + k
    ranges.reverse()
    return ranges


def inclusion_subtrees(index: int, size: int) -> list[SubtreeId]:
    """The stored subtrees `inclusion_proof` reads, so that a store can fetch them first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not in a tree of size {size}")
    return [sid for a, b in _inclusion_ranges(index, size) for sid in _decompose(a, b)]


def prefix_subtrees(size: int) -> list[SubtreeId]:
    """The stored subtrees whose hashes fold into the root of the first `size` leaves."""
    return _decompose(0, size)


def consistency_subtrees(old_size: int, new_size: int) -> list[SubtreeId]:
    """The stored subtrees `consistency_proof` reads."""
    if not 0 < old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to {new_size}")
    if old_size == new_size:
        return []
    return [sid for a, b in _consistency_ranges(old_size, new_size) for sid in _decompose(a, b)]


def inclusion_proof(index: int, size: int, reader: HashReader) -> list[bytes]:
    """The RFC 9162 §2.1.3.1 audit path of leaf `index` in the tree of `size` leaves."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not in a tree of size {size}")
    return _ranges_hashes(reader, _inclusion_ranges(index, size))


def _consistency_ranges(old: int, new: int) -> list[tuple[int, int]]:
    """The ranges of the RFC 9162 §2.1.4.1 SUBPROOF(old, D[0:new], true)."""
    ranges: list[tuple[int, int]] = []
    lo, hi, m, complete = 0, new, old, True
    while m != hi - lo:
        k = _largest_power_of_two_below(hi - lo)
        if m <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo, m, complete = lo + k, m - k, False
    if not complete:
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges


def consistency_proof(old_size: int, new_size: int, reader: HashReader) -> list[bytes]:
    """The RFC 9162 §2.1.4.1 proof that the tree of old_size is a prefix of new_size."""
    if not 0 < old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to {new_size}")
    if old_size == new_size:
        return []
    return _ranges_hashes(reader, _consistency_ranges(old_size, new_size))


def _check_proof_shape(proof: Sequence[bytes]) -> None:
    if len(proof) > _MAX_PROOF_HASHES:
        raise InvalidProof("proof has too many hashes")
    for h in proof:
        if not isinstance(h, bytes) or len(h) != HASH_SIZE:
            raise InvalidProof("proof hashes must be 32 bytes")


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], expected_root: bytes
) -> None:
    """Check an audit path (RFC 9162 §2.1.3.2) for a leaf hash. Raises InvalidProof."""
    _check_proof_shape(proof)
    if len(leaf) != HASH_SIZE or len(expected_root) != HASH_SIZE:
        raise InvalidProof("leaf hash and root must be 32 bytes")
    if not 0 <= index < size:
        raise InvalidProof(f"leaf index {index} is not in a tree of size {size}")
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            raise InvalidProof("proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise InvalidProof("proof is shorter than the tree is deep")
    if r != expected_root:
        raise InvalidProof("computed root does not match")


def verify_consistency(
    old_size: int,
    new_size: int,
    old_root: bytes,
    new_root: bytes,
    proof: Sequence[bytes],
) -> None:
    """Check a consistency proof (RFC 9162 §2.1.4.2). Raises InvalidProof."""
    _check_proof_shape(proof)
    if len(old_root) != HASH_SIZE or len(new_root) != HASH_SIZE:
        raise InvalidProof("roots must be 32 bytes")
    if not 0 < old_size <= new_size:
        raise InvalidProof(f"no consistency from size {old_size} to {new_size}")
    if old_size == new_size:
        if proof:
            raise InvalidProof("proof between equal sizes must be empty")
        if old_root != new_root:
            raise InvalidProof("same size, different roots")
        return
    if not proof:
        raise InvalidProof("proof is empty")
    path = list(proof)
    # RFC 9162 §2.1.4.2 step 1: if old_size is a power of two, prepend its root.
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fr, sr = _consistency_roots(old_size, new_size, path)
    if fr != old_root:
        raise InvalidProof("proof does not lead to the old root")
    if sr != new_root:
        raise InvalidProof("proof does not lead to the new root")


def _consistency_roots(old_size: int, new_size: int, path: Sequence[bytes]) -> tuple[bytes, bytes]:
    """RFC 9162 §2.1.4.2 steps 2-7: the old and new roots a consistency path implies."""
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise InvalidProof("proof is longer than needed")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise InvalidProof("proof is shorter than needed")
    return fr, sr


def implied_old_root(
    old_size: int, new_size: int, new_root: bytes, proof: Sequence[bytes]
) -> bytes:
    """The root of the first old_size leaves that a consistency proof from a tree
    with new_root implies. For a power-of-two old_size the proof must begin with
    that subtree's hash (the hash RFC 9162 leaves out). Raises InvalidProof.

    Equivocation evidence uses it: a signed old root that differs from the
    implied one proves the log signed two inconsistent trees.
    """
    _check_proof_shape(proof)
    if not 0 < old_size < new_size or not proof:
        raise InvalidProof("implied roots need 0 < old_size < new_size and a proof")
    fr, sr = _consistency_roots(old_size, new_size, proof)
    if sr != new_root:
        raise InvalidProof("proof does not lead to the new root")
    return fr


@dataclass(slots=True)
class Frontier:
    """The compact range [0, size): the roots of the maximal complete subtrees.

    A verifier holding these O(log n) hashes can extend the tree leaf by leaf
    and compare roots without the leaves. `append` also returns every complete
    subtree the new leaf completes, which is exactly what a store must keep
    for O(log n) proofs.
    """

    size: int = 0
    hashes: list[bytes] | None = None  # largest subtree first

    def __post_init__(self) -> None:
        if self.hashes is None:
            self.hashes = []
        if len(self.hashes) != bin(self.size).count("1"):
            raise ValueError("frontier hashes do not match its size")

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf hash; return the (level, index, hash) of each subtree completed."""
        assert self.hashes is not None
        completed = [(0, self.size, leaf)]
        h = leaf
        index, level = self.size, 0
        while index & 1:
            h = node_hash(self.hashes.pop(), h)
            index >>= 1
            level += 1
            completed.append((level, index, h))
        self.hashes.append(h)
        self.size += 1
        return completed

    def root(self) -> bytes:
        """MTH of the leaves so far (EMPTY_ROOT for none)."""
        assert self.hashes is not None
        if not self.hashes:
            return EMPTY_ROOT
        return _fold(self.hashes)

    def copy(self) -> Frontier:
        assert self.hashes is not None
        return Frontier(size=self.size, hashes=list(self.hashes))

    def to_bytes(self) -> bytes:
        """Serialise as 8-byte big-endian size followed by the hashes."""
        assert self.hashes is not None
        return self.size.to_bytes(8, "big") + b"".join(self.hashes)

    @classmethod
    def from_bytes(cls, data: bytes) -> Frontier:
        if len(data) < 8:
            raise ValueError("frontier too short")
        size = int.from_bytes(data[:8], "big")
        body = data[8:]
        count = bin(size).count("1")
        if len(body) != count * HASH_SIZE:
            raise ValueError("frontier length does not match its size")
        return cls(size=size, hashes=[body[i : i + HASH_SIZE] for i in range(0, len(body), 32)])


class MemoryHashStore:
    """Every complete subtree hash of an in-memory tree; a HashReader for tests and tools."""

    def __init__(self, leaf_hashes: Sequence[bytes] = ()) -> None:
        self._hashes: dict[SubtreeId, bytes] = {}
        self.frontier = Frontier()
        for h in leaf_hashes:
            self.append(h)

    def append(self, leaf: bytes) -> None:
        for level, index, h in self.frontier.append(leaf):
            self._hashes[(level, index)] = h

    @property
    def size(self) -> int:
        return self.frontier.size

    def read_hashes(self, ids: Sequence[SubtreeId]) -> Sequence[bytes]:
        return [self._hashes[sid] for sid in ids]
