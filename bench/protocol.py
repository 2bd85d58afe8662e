"""Throughput of the protocol core beside the raw rates of the primitives it uses.

Two figures: how many log leaves per second the core can take in (parse the
leaf, canonicalise the record, hash its id, verify its Ed25519 signature),
against PyNaCl's verify and hashlib's SHA-256 over the very same messages;
and how fast `protocol.merkle.root` folds 1,000,000 leaf hashes, against
hashlib over the same number of 65-byte node-hash inputs. Every figure is
measured in the same run, best of a few repeats after a warm-up, with the
garbage collector paused as `timeit` does. Nothing here asserts on time.
"""

from __future__ import annotations

import gc
import hashlib
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass

import nacl
import nacl.signing

from protocol.keys import AgentKey
from protocol.merkle import root
from protocol.records import Record
from protocol.signing import (
    envelope_from_leaf,
    leaf_bytes,
    open_leaf,
    record_bytes,
    sign,
    signing_input,
)

__all__ = ["run"]

ENVELOPES = 20_000
AUTHORS = 50
MERKLE_LEAVES = 1_000_000
REPEATS = 3
COMMAND = "make bench ARGS=protocol  # = .venv/bin/python -m bench.run protocol"


def _best_of(repeats: int, fn: Callable[[], object]) -> float:
    """The shortest of `repeats` timed calls, in seconds, with GC paused as timeit does."""
    best = float("inf")
    for _ in range(repeats):
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            start = time.perf_counter()
            fn()
            elapsed = time.perf_counter() - start
        finally:
            if gc_was_enabled:
                gc.enable()
        best = min(best, elapsed)
    return best


def _make_leaves(count: int) -> tuple[list[bytes], list[tuple[bytes, bytes, bytes]]]:
    """Pre-signed leaves, and (public key, signing input, signature) of each for raw checks."""
    keys = [
        AgentKey.from_seed(hashlib.sha256(b"bench-author-%d" % i).digest()) for i in range(AUTHORS)
    ]
    leaves: list[bytes] = []
    raw: list[tuple[bytes, bytes, bytes]] = []
    for i in range(count):
        key = keys[i % AUTHORS]
        record = Record(
            type="design",
            author=key.did,
            created=f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
            body={
                "name": f"Bracket, part {i}",
                "summary": "A printable bracket for 20 mm aluminium extrusion, "
                "with two M5 holes and a 3 mm fillet." * (1 + i % 3),
                "licence": "CC-BY-SA-4.0",
                "files": [
                    {
                        "path": f"bracket-{i}.stl",
                        "sha256": hashlib.sha256(b"file-%d" % i).hexdigest(),
                        "size": 10_000 + i,
                    }
                ],
                "tags": ["bracket", "extrusion", "fdm"],
            },
        )
        envelope = sign(record, key)
        leaves.append(leaf_bytes(envelope))
        raw.append((key.public_key, signing_input(record), envelope.sig))
    return leaves, raw


@dataclass(frozen=True)
class _Row:
    figure: str
    value: str
    limit: str
    ratio: str


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f}/s"


def _bench_leaves() -> tuple[list[_Row], str]:
    leaves, raw = _make_leaves(ENVELOPES)
    record_sizes = [len(record_bytes(envelope_from_leaf(leaf).record)) for leaf in leaves[:1000]]
    mean_record = sum(record_sizes) / len(record_sizes)
    mean_leaf = sum(len(leaf) for leaf in leaves) / len(leaves)

    def pipeline(batch: list[bytes]) -> None:
        for leaf in batch:
            # The path a node takes for every leaf it appends or syncs.
            open_leaf(leaf)

    verify_keys = {pk: nacl.signing.VerifyKey(pk) for pk, _, _ in raw}
    raw_verify_items = [(verify_keys[pk], msg, sig) for pk, msg, sig in raw]
    raw_hash_items = [msg[len(b"fabcommons-record-v1\n") :] for _, msg, _ in raw]

    def raw_verify(items: list[tuple[nacl.signing.VerifyKey, bytes, bytes]]) -> None:
        for vk, msg, sig in items:
            vk.verify(msg, sig)

    def raw_sha256(items: list[bytes]) -> None:
        sha256 = hashlib.sha256
        for data in items:
            sha256(data).digest()

    # Warm-up: caches, branch predictors and lazily built tables.
    pipeline(leaves[:500])
    raw_verify(raw_verify_items[:500])
    raw_sha256(raw_hash_items[:500])

    t_pipeline = _best_of(REPEATS, lambda: pipeline(leaves))
    t_verify = _best_of(REPEATS, lambda: raw_verify(raw_verify_items))
    t_sha = _best_of(REPEATS, lambda: raw_sha256(raw_hash_items))
    t_limit = t_verify + t_sha
    n = len(leaves)
    rows = [
        _Row(
            f"leaves/s: parse leaf + JCS + SHA-256 id + Ed25519 verify ({n:,} envelopes)",
            _rate(n, t_pipeline),
            f"{_rate(n, t_limit)} (PyNaCl verify + hashlib SHA-256 of the same messages)",
            f"{t_limit / t_pipeline:.2f}",
        ),
        _Row("raw PyNaCl Ed25519 verify", _rate(n, t_verify), "—", "—"),
        _Row(f"raw hashlib SHA-256 ({mean_record:.0f}-byte records)", _rate(n, t_sha), "—", "—"),
    ]
    note = (
        f"Leaves average {mean_leaf:.0f} bytes (records {mean_record:.0f} bytes), "
        f"by {AUTHORS} authors; the core path is `protocol.signing.open_leaf` "
        "(strict parse, canonical check, id, verify)."
    )
    return rows, note


def _bench_merkle() -> list[_Row]:
    leaf_hashes = [hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(MERKLE_LEAVES)]
    # An RFC 9162 tree of n leaves has n - 1 interior nodes: that many
    # SHA-256(0x01 ‖ left ‖ right) inputs of 65 bytes each.
    node_inputs = [b"\x01" + leaf_hashes[i] + leaf_hashes[i + 1] for i in range(MERKLE_LEAVES - 1)]

    def raw_nodes() -> None:
        sha256 = hashlib.sha256
        for data in node_inputs:
            sha256(data).digest()

    root(leaf_hashes[:10_000])
    raw_nodes_warm = node_inputs[:10_000]
    for data in raw_nodes_warm:
        hashlib.sha256(data).digest()

    t_root = _best_of(REPEATS, lambda: root(leaf_hashes))
    t_raw = _best_of(REPEATS, raw_nodes)
    n = MERKLE_LEAVES
    return [
        _Row(
            f"Merkle root of {n:,} leaf hashes (`protocol.merkle.root`)",
            f"{t_root:.2f} s = {_rate(n, t_root)} leaves",
            f"{t_raw:.2f} s = {_rate(n, t_raw)} leaves (hashlib on {n - 1:,} 65-byte node inputs)",
            f"{t_raw / t_root:.2f}",
        )
    ]


def run() -> str:
    """Measure the protocol core and return the figures as a Markdown section."""
    leaf_rows, leaf_note = _bench_leaves()
    merkle_rows = _bench_merkle()
    lines = [
        "## Protocol core: leaf intake and Merkle root",
        "",
        "| figure | value | raw limit | ratio |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {r.figure} | {r.value} | {r.limit} | {r.ratio} |" for r in leaf_rows]
    lines += [f"| {r.figure} | {r.value} | {r.limit} | {r.ratio} |" for r in merkle_rows]
    lines += [
        "",
        "ratio = the core's rate ÷ the raw limit's rate (1.00 would mean the core adds "
        f"nothing over the primitives). Best of {REPEATS} runs after a warm-up, GC paused, "
        "`time.perf_counter`.",
        leaf_note,
        f"PyNaCl {nacl.__version__}, {platform.python_implementation()} "
        f"{platform.python_version()}.",
        "",
        f"Command: `{COMMAND}`",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
