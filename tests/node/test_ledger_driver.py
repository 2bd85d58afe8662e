"""How a node judges a peer's distribution (node/ledger_driver.py, specs/07-ledger.md §5.4).

The driver is given stand-ins for the log store (the job.request entry),
the ledger store (the policy) and the design source, so that each verdict
is decided by a chain written out here.
"""

from __future__ import annotations

from typing import Any

import pytest
from ledgerkit import key, policy, request_body

from node.ledger_driver import LedgerDriver
from node.store.ledger import StoredDistribution
from protocol.did import Did
from protocol.records import Record, RecordId
from protocol.signing import leaf_bytes, sign

ANA, BEN, CAROL, FUND = key("d ana"), key("d ben"), key("d carol"), key("d fund")
LOG_A, LOG_C = key("d log A").did, key("d log C").did
CHILD, PARENT, OTHER = ("sha256:" + c * 64 for c in "abc")
JOB = "sha256:" + "1" * 64
POLICY = "sha256:" + "2" * 64


class Store:
    def __init__(self, leaves: dict[tuple[str, str], bytes]) -> None:
        self.leaves = leaves

    async def entry_by_id(self, did: str, rid: str) -> tuple[int, bytes] | None:
        leaf = self.leaves.get((did, rid))
        return None if leaf is None else (0, leaf)


class Ledger:
    async def policy(self, log: str, rid: str) -> dict[str, Any] | None:
        return policy(1, FUND) if rid == POLICY else None


class Designs:
    def __init__(self, known: dict[str, tuple[Did, Did, list[RecordId]]]) -> None:
        self.known = known

    async def closure(self, design: str) -> dict[str, tuple[Did, Did, list[RecordId]]]:
        return self.known


def request_leaf() -> bytes:
    record = Record(
        type="job.request",
        author=ANA.did,
        created="2030-01-01T00:00:00Z",
        body=request_body(CHILD, LOG_A),
    )
    return leaf_bytes(sign(record, ANA))


def shared(designers: list[tuple[int, str, str]]) -> StoredDistribution:
    body = {
        "job": JOB,
        "job_log": LOG_A,
        "policy": POLICY,
        "designers": [
            {"generation": g, "design": d, "log": LOG_A, "agent": agent}
            for g, d, agent in designers
        ],
    }
    return StoredDistribution(
        log=Did(LOG_C),
        index=9,
        record_id=RecordId("sha256:" + "9" * 64),
        created="2030-01-02T00:00:00Z",
        body=body,
        agreement="pending",
        detail="",
    )


KNOWN = {
    CHILD: (Did(LOG_A), ANA.did, [RecordId(PARENT)]),
    PARENT: (Did(LOG_A), BEN.did, []),
}
RIGHT = [(0, CHILD, ANA.did), (1, PARENT, BEN.did)]


@pytest.mark.parametrize(
    ("known", "with_request", "claimed", "verdict", "detail"),
    [
        (KNOWN, True, RIGHT, "agree", ""),
        (KNOWN, True, list(reversed(RIGHT)), "agree", ""),  # order in the body is free
        (KNOWN, True, [(0, CHILD, ANA.did)], "disagree", PARENT),
        (KNOWN, True, [(0, CHILD, CAROL.did), (1, PARENT, BEN.did)], "disagree", "authors"),
        (KNOWN, True, [*RIGHT, (1, OTHER, CAROL.did)], "disagree", OTHER),
        (KNOWN, False, RIGHT, "unknown", "job.request"),
        ({CHILD: KNOWN[CHILD]}, True, RIGHT, "unknown", PARENT),
        ({}, True, RIGHT, "unknown", "design"),
    ],
    ids=[
        "agree",
        "any-order",
        "parent-left-out",
        "wrong-author",
        "extra-design",
        "request-unknown",
        "ancestor-unknown",
        "design-unknown",
    ],
)
async def test_verdicts(
    known: dict[str, Any], with_request: bool, claimed: Any, verdict: str, detail: str
) -> None:
    leaves = {(LOG_A, JOB): request_leaf()} if with_request else {}
    driver = LedgerDriver(
        store=Store(leaves),  # type: ignore[arg-type]
        log=None,  # type: ignore[arg-type]
        ledger=Ledger(),  # type: ignore[arg-type]
        designs=Designs(known),
    )
    got, why = await driver.verdict(shared(claimed))
    assert got == verdict, why
    assert detail in why
