"""Builders for the ledger's node tests: bodies written out as plain JSON, expected splits
worked by hand, and an RFC 9162 inclusion check written directly with hashlib.

Nothing here computes an expected amount with governance/: the policies
below come with their splits worked out in comments, and the proof check
does not use protocol/merkle.py.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from governance.electorate import tally_of_entry
from protocol.authority import LogAuthority
from protocol.keys import AgentKey
from protocol.records import Envelope, Record, format_time
from protocol.signing import leaf_bytes, record_id, sign


def key(name: str) -> AgentKey:
    return AgentKey.from_seed(hashlib.sha256(("ledger " + name).encode()).digest())


def now_plus(seconds: float = 0) -> str:
    return format_time(datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=seconds))


def place() -> dict[str, str]:
    return {"lat": "52.520008", "lon": "13.404954", "country": "DE", "region": "Berlin"}


def design_body(
    title: str, author: AgentKey, parents: list[str], *, sha: str = "a" * 64
) -> dict[str, Any]:
    return {
        "title": title,
        "summary": f"{title}, for the ledger tests.",
        "description": "Print flat.",
        "license": "CC-BY-SA-4.0",
        "authors": [{"name": title + " author", "did": author.did}],
        "version": "1.0",
        "supersedes": None,
        "derived_from": parents,
        "files": [
            {
                "name": "part.stl",
                "media_type": "model/stl",
                "sha256": sha,
                "size": 84,
                "role": "model",
                "units": "mm",
            }
        ],
        "processes": ["fdm"],
        "materials": ["pla"],
        "tags": ["ledger-test"],
    }


def request_body(design: str, design_log: str) -> dict[str, Any]:
    return {
        "design": design,
        "design_log": design_log,
        "file": "a" * 64,
        "quantity": 1,
        "process": "fdm",
        "material": "pla",
        "deliver_to": place(),
        "deadline": "2031-02-01T00:00:00Z",
        "budget": {"amount": 100_000, "currency": "EUR"},
        "response_window_s": 3600,
    }


def workshop_body(slug: str, owner: AgentKey) -> dict[str, Any]:
    return {"workshop": slug, "name": "C Fab", "place": place(), "owners": [owner.did]}


def policy(version: int, fund: AgentKey, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "version": version,
        "workshop_bp": 7000,
        "designers_bp": 2000,
        "decay_bp": 5000,
        "max_generations": 3,
        "commons_bp": 1000,
        "commons_fund": fund.did,
        "named": [],
        "currencies": ["EUR"],
    }
    body.update(changes)
    return body


# Policy 1 (70 % workshop, 20 % designers with decay 1/2, 10 % commons) on
# 10001 cents with a two-generation chain: generation weights 1 and 1/2, so
# the designers' 20 % splits 2/3 : 1/3. Quotas: workshop 7000.7, generation 0
# 1333.466…, generation 1 666.733…, commons 1000.1; floors sum to 9999 and
# the two units left go to the largest remainders (.733 then .7).
V1_TOTAL = 10001
V1_AMOUNTS = {"workshop": 7001, "gen0": 1333, "gen1": 667, "commons": 1000}
# Policy 2 (60 % workshop, 30 % designers, 10 % commons) on 10000 cents:
# 6000; designers 3000 as 2000 and 1000; 1000. All exact.
V2_CHANGES = {"workshop_bp": 6000, "designers_bp": 3000}
V2_TOTAL = 10000
V2_AMOUNTS = {"workshop": 6000, "gen0": 2000, "gen1": 1000, "commons": 1000}


def expected_parts(
    version: int,
    amounts: dict[str, int],
    *,
    workshop: str,
    gen0: tuple[str, str],
    gen1: tuple[str, str],
    fund: str,
) -> list[dict[str, Any]]:
    """The parts in canonical order: workshop, designers by generation, commons."""
    return [
        {"agent": workshop, "reason": "workshop", "amount": amounts["workshop"],
         "policy_version": version},
        {"agent": gen0[0], "reason": "designer", "amount": amounts["gen0"],
         "policy_version": version, "generation": 0, "design": gen0[1]},
        {"agent": gen1[0], "reason": "designer", "amount": amounts["gen1"],
         "policy_version": version, "generation": 1, "design": gen1[1]},
        {"agent": fund, "reason": "commons", "amount": amounts["commons"],
         "policy_version": version},
    ]  # fmt: skip


def proposal_body(policy_body: dict[str, Any], opens: str, closes: str) -> dict[str, Any]:
    return {
        "title": f"Value-sharing policy version {policy_body['version']}",
        "text": "Share completed jobs this way.",
        "options": ["yes", "no"],
        "method": "majority",
        "opens": opens,
        "closes": closes,
        "quorum": {"num": 1, "den": 2},
        "action": {"kind": "ledger.policy", "params": {"policy": policy_body}},
    }


def verify_inclusion(leaf: bytes, index: int, size: int, hashes: list[str], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2, written out with hashlib."""
    if index >= size:
        return False
    fn, sn = index, size - 1
    r = hashlib.sha256(b"\x00" + leaf).digest()
    for encoded in hashes:
        p = base64.b64decode(encoded)
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def checkpoint_root(note: str) -> tuple[int, bytes]:
    """(size, root) from a checkpoint note's body lines: origin, size, base64 root."""
    lines = note.split("\n")
    return int(lines[1]), base64.b64decode(lines[2])


T0 = datetime(2030, 1, 6, 12, 0, tzinfo=UTC)


class LogBuilder:
    """A log built leaf by leaf, each checked by protocol.authority as a follower would.

    `add_unchecked` appends a leaf without the check: the way a lying peer
    would put an entry its own rules refuse into the log it serves.
    """

    def __init__(self, node: AgentKey) -> None:
        self.node = node
        self.state = LogAuthority(node=node.did)
        self.leaves: list[bytes] = []

    def _envelope(
        self, signer: AgentKey, type_: str, body: dict[str, Any], created: str | None
    ) -> Envelope:
        when = created or format_time(T0 + timedelta(seconds=len(self.leaves)))
        return sign(Record(type=type_, author=signer.did, created=when, body=body), signer)

    def add(
        self, signer: AgentKey, type_: str, body: dict[str, Any], created: str | None = None
    ) -> str:
        envelope = self._envelope(signer, type_, body, created)
        self.state.admit_entry(envelope)
        self.leaves.append(leaf_bytes(envelope))
        return record_id(envelope.record)

    def add_unchecked(self, signer: AgentKey, type_: str, body: dict[str, Any]) -> str:
        envelope = self._envelope(signer, type_, body, None)
        self.leaves.append(leaf_bytes(envelope))
        return record_id(envelope.record)

    def adopt_policy(self, voters: list[AgentKey], policy_body: dict[str, Any]) -> str:
        """Proposal, ballots, the node's result with the tally the log implies; the result id."""
        opens = format_time(T0)
        closes = format_time(T0 + timedelta(days=1))
        proposal = self.add(voters[0], "proposal", proposal_body(policy_body, opens, closes))
        for voter in voters:
            self.add(voter, "ballot", {"proposal": proposal, "choice": "yes"})
        entry = self.state.extensions["governance"]["open"][proposal]
        tally = tally_of_entry(entry, proposal, now=T0 + timedelta(days=1)).to_dict()
        return self.add(
            self.node, "proposal.result", {"proposal": proposal, "tally": tally}, closes
        )

    def complete_job(self, owner: AgentKey, job: str, job_log: str, slug: str, amount: int) -> str:
        answer = {"job": job, "job_log": job_log, "workshop": slug}
        self.add(owner, "job.accept", {**answer, "offer": "sha256:" + "0" * 64})
        for status in ("in_production", "shipped", "delivered"):
            self.add(owner, "job.status", {**answer, "status": status})
        paid = {"amount": amount, "currency": "EUR"}
        return self.add(owner, "job.complete", {**answer, "paid": paid})
