"""Verifying and tallying signed ballots, beside the raw Ed25519 verify rate of the same run.

A log of one node holds FABCOMMONS_BENCH_BALLOTS members (default 10,000),
a ranked-choice proposal over five options, and one signed ballot per
member. The figure is what a peer does to check the result: open every
ballot leaf (canonical form, record id, Ed25519 signature), admit it through
the governance rules at its position (member, electorate, window, options),
then tally the proposal with every instant-runoff round. Beside it: PyNaCl's
bare verify of the very same signing inputs, and the tally alone. Best of a
few repeats after a warm-up, GC paused. Nothing here asserts on time.
"""

from __future__ import annotations

import copy
import gc
import hashlib
import os
import platform
import random
import time
from collections.abc import Callable
from typing import Any

import nacl
import nacl.signing

import governance  # noqa: F401  (registers the governance types and rules)
from governance.electorate import live_tally
from protocol.authority import LogAuthority
from protocol.keys import AgentKey
from protocol.records import Record, parse_body, parse_time
from protocol.signing import leaf_bytes, open_leaf, record_id, sign, signing_input

__all__ = ["run"]

BALLOTS = int(os.environ.get("FABCOMMONS_BENCH_BALLOTS", "10000"))
REPEATS = 3
OPTIONS = ["laser", "cnc", "printer", "lathe", "loom"]
OPENS, CLOSES, VOTED = "2025-06-01T00:00:00Z", "2025-06-08T00:00:00Z", "2025-06-02T12:00:00Z"
COMMAND = "make bench ARGS=tally  # = .venv/bin/python -m bench.run tally"


def _best_of(repeats: int, fn: Callable[[], object], prepare: Callable[[], None]) -> float:
    best = float("inf")
    for _ in range(repeats):
        prepare()
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


def _setup(count: int) -> tuple[LogAuthority, str, list[bytes], list[tuple[bytes, bytes, bytes]]]:
    """The state after admissions and the proposal, the ballot leaves, and their raw triples."""
    node = AgentKey.from_seed(hashlib.sha256(b"bench-tally-node").digest())
    members = [
        AgentKey.from_seed(hashlib.sha256(b"bench-tally-member-%d" % i).digest())
        for i in range(count)
    ]
    state = LogAuthority(node=node.did)
    for m in members:
        body = {"member": m.did, "role": "member"}
        record = Record(type="member.admit", author=node.did, created=OPENS, body=body)
        state.admit_verified(record, parse_body(record))
    proposal = Record(
        type="proposal",
        author=members[0].did,
        created=OPENS,
        body={
            "title": "Which machine next?",
            "text": "One member, one ranked ballot.",
            "options": OPTIONS,
            "method": "ranked",
            "opens": OPENS,
            "closes": CLOSES,
            "quorum": {"num": 1, "den": 2},
        },
    )
    state.admit_verified(proposal, parse_body(proposal))
    pid = record_id(proposal)
    rng = random.Random(7)
    leaves: list[bytes] = []
    raw: list[tuple[bytes, bytes, bytes]] = []
    for m in members:
        ranking = rng.sample(OPTIONS, rng.randint(1, len(OPTIONS)))
        record = Record(
            type="ballot", author=m.did, created=VOTED, body={"proposal": pid, "ranking": ranking}
        )
        envelope = sign(record, m)
        leaves.append(leaf_bytes(envelope))
        raw.append((m.public_key, signing_input(record), envelope.sig))
    return state, pid, leaves, raw


def run() -> str:
    """Measure and return the figures as a Markdown section."""
    base, pid, leaves, raw = _setup(BALLOTS)
    now = parse_time(CLOSES)
    holder: dict[str, Any] = {}

    def fresh() -> None:
        holder["state"] = copy.deepcopy(base)

    def verify_admit_tally() -> None:
        state: LogAuthority = holder["state"]
        for data in leaves:
            opened = open_leaf(data)
            record = opened.envelope.record
            state.admit_verified(record, parse_body(record))
        holder["tally"] = live_tally(state, pid, now=now)

    def raw_verify() -> None:
        for public_key, message, sig in raw:
            nacl.signing.VerifyKey(public_key).verify(message, sig)

    def tally_only() -> None:
        live_tally(holder["state"], pid, now=now)

    fresh()
    verify_admit_tally()  # warm-up
    full = _best_of(REPEATS, verify_admit_tally, fresh)
    bare = _best_of(REPEATS, raw_verify, lambda: None)
    only = _best_of(REPEATS, tally_only, lambda: None)
    result = holder["tally"]
    assert result is not None
    assert result.voters == BALLOTS
    rounds = len(result.rounds or ())
    rows = [
        (
            f"verify + authorise + tally {BALLOTS:,} signed ballots",
            f"{full:.3f} s ({BALLOTS / full:,.0f} ballots/s)",
            f"Ed25519 verify alone: {bare:.3f} s ({BALLOTS / bare:,.0f} /s)",
            f"{bare / full:.2f}",
        ),
        (
            f"tally alone (instant runoff, {rounds} rounds)",
            f"{only * 1000:.1f} ms",
            "—",
            "—",
        ),
    ]
    lines = [
        "## Governance: verifying and tallying signed ballots",
        "",
        "| figure | value | raw limit | ratio |",
        "| --- | --- | --- | --- |",
        *(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows),
        "",
        "ratio = the raw verify time ÷ the full time (1.00 would mean checking the "
        "canonical form, the rules and the tally cost nothing over the signatures). "
        f"Best of {REPEATS} runs after a warm-up, GC paused, `time.perf_counter`. "
        f"Winner: {result.winner}. PyNaCl {nacl.__version__}, "
        f"{platform.python_implementation()} {platform.python_version()}.",
        "",
        f"Command: `{COMMAND}` (FABCOMMONS_BENCH_BALLOTS sets the number of ballots)",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
