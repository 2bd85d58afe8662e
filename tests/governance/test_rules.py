"""The governance rules of specs/06-governance.md §8, replayed entry by entry.

A log is built with real signatures and fed to `LogAuthority.admit_entry`,
as every verifier and follower does. Each refusal is checked for its reason
and for leaving the state unchanged; expected tallies are worked by hand.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import pytest

import governance  # noqa: F401  (registers the governance types and rules)
from governance.electorate import adopted, live_tally, node_parameter, open_proposal
from governance.errors import GovernanceRefused
from protocol.authority import LogAuthority
from protocol.errors import InvalidRecord, Unauthorised
from protocol.keys import AgentKey
from protocol.membership import sign_rotation
from protocol.records import Envelope, Record, parse_time
from protocol.replay import LogReplay
from protocol.signing import leaf_bytes, record_id, sign


def _key(name: str) -> AgentKey:
    return AgentKey.from_seed(hashlib.sha256(f"governance-rules/{name}".encode()).digest())


NODE = _key("node")
ANA, BEN, CAT, DAN = _key("ana"), _key("ben"), _key("cat"), _key("dan")
STRANGER = _key("stranger")
OPENS = "2025-06-01T10:00:00Z"
CLOSES = "2025-06-01T12:00:00Z"
DURING = "2025-06-01T11:00:00Z"
AFTER = "2025-06-01T12:00:00Z"
BEFORE = "2025-06-01T09:00:00Z"


def entry(key: AgentKey, type_: str, body: dict[str, Any], created: str = BEFORE) -> Envelope:
    return sign(Record(type=type_, author=key.did, created=created, body=body), key)


def proposal_body(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Buy a laser cutter",
        "text": "We should buy the **60 W** one.",
        "options": ["yes", "no"],
        "method": "majority",
        "opens": OPENS,
        "closes": CLOSES,
        "quorum": {"num": 1, "den": 2},
    }
    body.update(extra)
    return body


def ballot(key: AgentKey, pid: str, choice: Any = "yes", created: str = DURING) -> Envelope:
    form = choice if isinstance(choice, dict) else {"choice": choice}
    return entry(key, "ballot", {"proposal": pid, **form}, created)


class Log:
    """A log being written: every entry goes through admit_entry, as a verifier's would."""

    def __init__(self) -> None:
        self.state = LogAuthority(node=NODE.did)
        self.leaves: list[bytes] = []

    def add(self, envelope: Envelope) -> str:
        self.state.admit_entry(envelope)
        self.leaves.append(leaf_bytes(envelope))
        return record_id(envelope.record)

    def refuse(self, envelope: Envelope, reason: str | None = None) -> Exception:
        before = copy.deepcopy(self.state.to_dict())
        with pytest.raises((Unauthorised, InvalidRecord)) as caught:
            self.state.admit_entry(envelope)
        if reason is not None:
            assert isinstance(caught.value, GovernanceRefused), caught.value
            assert caught.value.reason == reason, caught.value
        assert self.state.to_dict() == before, "a refused entry changed the state"
        return caught.value

    def admit(self, *keys: AgentKey) -> None:
        for key in keys:
            self.add(entry(NODE, "member.admit", {"member": key.did, "role": "member"}))

    def propose(self, by: AgentKey = ANA, **extra: Any) -> str:
        return self.add(entry(by, "proposal", proposal_body(**extra)))

    def result(self, pid: str, created: str = AFTER) -> tuple[str, dict[str, Any]]:
        tally = live_tally(self.state, pid, now=parse_time(created))
        assert tally is not None
        body = {"proposal": pid, "tally": tally.to_dict()}
        return self.add(entry(NODE, "proposal.result", body, created)), body


@pytest.fixture
def log() -> Log:
    log = Log()
    log.admit(ANA, BEN, CAT)
    return log


def test_members_propose_others_may_not(log: Log) -> None:
    log.refuse(entry(STRANGER, "proposal", proposal_body()), "not-a-member")
    log.refuse(entry(NODE, "proposal", proposal_body()), "not-a-member")
    pid = log.propose()
    entry_ = open_proposal(log.state, pid)
    assert entry_ is not None
    assert entry_["electorate"] == sorted([ANA.did, BEN.did, CAT.did])
    assert entry_["author"] == ANA.did


def test_a_proposal_that_closes_before_it_is_made_is_refused(log: Log) -> None:
    late = entry(ANA, "proposal", proposal_body(), created=CLOSES)
    log.refuse(late, "invalid-proposal")


def test_open_proposals_per_member_are_bounded(log: Log) -> None:
    for n in range(16):
        log.propose(title=f"Proposal {n}")
    log.refuse(
        entry(ANA, "proposal", proposal_body(title="one too many")), "too-many-open-proposals"
    )
    log.propose(by=BEN, title="Ben may still propose")


def test_ballots_are_refused_for_every_reason_of_the_spec(log: Log) -> None:
    pid = log.propose()
    log.admit(DAN)  # admitted after the proposal: not in its electorate
    unknown = "sha256:" + "0" * 64
    log.refuse(ballot(BEN, unknown), "unknown-proposal")
    log.refuse(ballot(STRANGER, pid), "not-a-member")
    log.refuse(ballot(DAN, pid), "not-in-electorate")
    log.refuse(ballot(BEN, pid, created=BEFORE), "proposal-not-open")
    log.refuse(ballot(BEN, pid, created=CLOSES), "proposal-closed")
    log.refuse(ballot(BEN, pid, "maybe"), "invalid-ballot")
    log.refuse(ballot(BEN, pid, {"ranking": ["yes"]}), "invalid-ballot")
    # A body of no valid shape is refused before any rule runs.
    log.refuse(entry(BEN, "ballot", {"proposal": pid, "choice": "yes", "abstain": True}, DURING))
    log.add(ballot(BEN, pid, "no"))


def test_the_last_ballot_counts_and_a_removed_members_ballot_is_refused(log: Log) -> None:
    pid = log.propose()
    log.add(ballot(ANA, pid, "no"))
    log.add(ballot(ANA, pid, "yes"))  # Ana changes her mind
    log.add(ballot(BEN, pid, "no"))
    log.add(ballot(CAT, pid, "yes"))
    log.add(entry(NODE, "member.leave", {"member": CAT.did}, DURING))
    log.refuse(ballot(CAT, pid, "no"), "not-a-member")
    tally = live_tally(log.state, pid, now=parse_time(DURING))
    assert tally is not None
    # Cat's ballot cast while a member stands (specs/06-governance.md §5.1).
    assert dict(tally.counts) == {"yes": 2, "no": 1}
    assert not tally.final


def test_a_rotated_key_votes_for_its_identity_and_the_old_key_is_refused(log: Log) -> None:
    pid = log.propose()
    ben2 = _key("ben-2")
    rotation = {
        "identity": BEN.did,
        "new_key": ben2.did,
        "new_key_sig": sign_rotation(BEN.did, BEN.did, ben2),
    }
    log.add(ballot(BEN, pid, "no"))
    log.add(entry(BEN, "key.rotate", rotation, DURING))
    log.refuse(ballot(BEN, pid, "yes"), "not-a-member")
    log.add(ballot(ben2, pid, "yes"))
    tally = live_tally(log.state, pid, now=parse_time(DURING))
    assert tally is not None
    assert dict(tally.counts) == {"yes": 1, "no": 0}
    assert tally.voters == 1


def test_results_carry_exactly_the_tally_the_log_implies(log: Log) -> None:
    pid = log.propose()
    log.add(ballot(ANA, pid, "yes"))
    log.add(ballot(BEN, pid, "yes"))
    log.add(ballot(CAT, pid, "no"))
    tally = live_tally(log.state, pid, now=parse_time(AFTER))
    assert tally is not None
    good = {"proposal": pid, "tally": tally.to_dict()}
    assert good["tally"]["counts"] == {"yes": 2, "no": 1}
    assert good["tally"]["adopted"] is True
    log.refuse(entry(ANA, "proposal.result", good, AFTER))
    log.refuse(entry(NODE, "proposal.result", good, DURING), "result-too-early")
    for key, value in [("counts", {"yes": 3, "no": 0}), ("adopted", False), ("voters", 2)]:
        forged = copy.deepcopy(good)
        forged["tally"][key] = value
        log.refuse(entry(NODE, "proposal.result", forged, AFTER), "tally-mismatch")
    result_id = log.add(entry(NODE, "proposal.result", good, AFTER))
    assert open_proposal(log.state, pid) is None
    log.refuse(ballot(ANA, pid, "no", created=DURING), "proposal-closed")
    log.refuse(entry(NODE, "proposal.result", good, "2025-06-01T12:00:01Z"), "proposal-closed")
    assert adopted(log.state) == {}  # adopted, but there is no action to execute
    assert result_id.startswith("sha256:")


def test_an_adopted_action_is_executed_once_and_exactly(log: Log) -> None:
    action = {"kind": "member.admit", "params": {"member": DAN.did, "role": "member"}}
    pid = log.propose(action=action)
    log.add(ballot(ANA, pid))
    log.add(ballot(BEN, pid))
    result_id, _ = log.result(pid)
    assert adopted(log.state) == {result_id: {"proposal": pid, "action": action, "executed": False}}
    wrong_role = {"member": DAN.did, "role": "operator", "result": result_id}
    log.refuse(entry(NODE, "member.admit", wrong_role, AFTER), "decision-mismatch")
    other = {"member": STRANGER.did, "role": "member", "result": result_id}
    log.refuse(entry(NODE, "member.admit", other, AFTER), "decision-mismatch")
    not_a_result = {"member": DAN.did, "role": "member", "result": pid}
    log.refuse(entry(NODE, "member.admit", not_a_result, AFTER), "not-adopted")
    log.refuse(entry(NODE, "member.leave", {"member": CAT.did, "result": result_id}, AFTER))
    log.add(entry(NODE, "member.admit", {"member": DAN.did, "role": "member", "result": result_id}))
    assert adopted(log.state)[result_id]["executed"] is True
    assert DAN.did in log.state.members
    log.add(entry(NODE, "member.leave", {"member": DAN.did}, AFTER))
    again = {"member": DAN.did, "role": "member", "result": result_id}
    log.refuse(entry(NODE, "member.admit", again, AFTER), "already-executed")


def test_a_rejected_proposal_adopts_nothing(log: Log) -> None:
    action = {"kind": "member.admit", "params": {"member": DAN.did, "role": "member"}}
    pid = log.propose(action=action)
    log.add(ballot(ANA, pid, "no"))
    log.add(ballot(BEN, pid, "no"))
    result_id, body = log.result(pid)
    assert body["tally"]["adopted"] is False
    assert adopted(log.state) == {}
    cited = {"member": DAN.did, "role": "member", "result": result_id}
    log.refuse(entry(NODE, "member.admit", cited, AFTER), "not-adopted")


def test_quorum_not_met_adopts_nothing(log: Log) -> None:
    action = {"kind": "peer.block", "params": {"did": STRANGER.did, "reason": "spam"}}
    pid = log.propose(action=action, quorum={"num": 2, "den": 3})
    log.add(ballot(ANA, pid, "yes"))  # 1 of 3 voted; 2/3 needed
    _, body = log.result(pid)
    assert body["tally"]["winner"] == "yes"
    assert body["tally"]["quorum_met"] is False
    assert body["tally"]["adopted"] is False


def test_node_parameters_and_peer_blocks_follow_decisions(log: Log) -> None:
    param = {"kind": "node.parameter", "params": {"name": "required_cosignatures", "value": 2}}
    block = {"kind": "peer.block", "params": {"did": STRANGER.did, "reason": "spam"}}
    p1 = log.propose(action=param)
    p2 = log.propose(action=block, title="Block them")
    for pid in (p1, p2):
        log.add(ballot(ANA, pid))
        log.add(ballot(BEN, pid))
    r1, _ = log.result(p1)
    r2, _ = log.result(p2)
    assert node_parameter(log.state, "required_cosignatures", 0) == 0
    wrong = {"name": "required_cosignatures", "value": 3, "result": r1}
    log.refuse(entry(NODE, "node.parameter", wrong, AFTER), "decision-mismatch")
    log.refuse(entry(NODE, "node.parameter", {**wrong, "value": 2, "result": r2}, AFTER))
    log.add(entry(NODE, "node.parameter", {**wrong, "value": 2}, AFTER))
    assert node_parameter(log.state, "required_cosignatures", 0) == 2
    log.refuse(entry(NODE, "peer.block", {"peer": STRANGER.did, "reason": "other", "result": r2}))
    log.add(entry(NODE, "peer.block", {"peer": STRANGER.did, "reason": "spam", "result": r2}))
    assert all(a["executed"] for a in adopted(log.state).values())


def test_a_member_cannot_execute_a_decision(log: Log) -> None:
    action = {"kind": "member.leave", "params": {"member": ANA.did}}
    pid = log.propose(action=action)
    log.add(ballot(ANA, pid))
    log.add(ballot(BEN, pid))
    result_id, _ = log.result(pid)
    log.refuse(entry(ANA, "member.leave", {"member": ANA.did, "result": result_id}, AFTER))
    log.add(entry(NODE, "member.leave", {"member": ANA.did, "result": result_id}, AFTER))


def test_delegations_are_taken_as_of_the_proposal(log: Log) -> None:
    log.refuse(
        entry(ANA, "delegation", {"topic": "tools", "delegate": ANA.did}), "invalid-delegation"
    )
    log.refuse(
        entry(ANA, "delegation", {"topic": "tools", "delegate": DAN.did}), "invalid-delegation"
    )
    log.refuse(
        entry(STRANGER, "delegation", {"topic": "tools", "delegate": ANA.did}), "not-a-member"
    )
    log.add(entry(CAT, "delegation", {"topic": "tools", "delegate": BEN.did}))
    pid = log.propose(delegation="tools")
    # Made after the proposal: not in its snapshot.
    log.add(entry(ANA, "delegation", {"topic": "tools", "delegate": BEN.did}))
    log.add(ballot(BEN, pid, "no"))
    tally = live_tally(log.state, pid, now=parse_time(AFTER))
    assert tally is not None
    assert (tally.direct, tally.delegated, dict(tally.counts)) == (1, 1, {"yes": 0, "no": 2})
    log.add(entry(CAT, "delegation", {"topic": "tools"}))  # revoked, too late to matter here
    log.add(ballot(CAT, pid, "yes"))  # but a direct ballot always overrides
    tally = live_tally(log.state, pid, now=parse_time(AFTER))
    assert tally is not None
    assert (tally.direct, tally.delegated, dict(tally.counts)) == (2, 0, {"yes": 1, "no": 1})


def test_a_verifier_replaying_the_log_decides_the_same(log: Log) -> None:
    action = {"kind": "member.admit", "params": {"member": DAN.did, "role": "operator"}}
    pid = log.propose(action=action, method="ranked", options=["yes", "no", "later"])
    log.add(ballot(ANA, pid, {"ranking": ["yes", "later"]}))
    log.add(ballot(BEN, pid, {"ranking": ["later", "yes"]}))
    log.add(ballot(CAT, pid, {"ranking": ["yes"]}))
    result_id, body = log.result(pid)
    assert body["tally"]["winner"] == "yes"
    log.add(
        entry(NODE, "member.admit", {"member": DAN.did, "role": "operator", "result": result_id})
    )
    replay = LogReplay.start(NODE.did)
    for leaf in log.leaves:
        replay.add(leaf)
    assert replay.authority.to_dict() == log.state.to_dict()
    # A log whose result was altered fails verification at that entry.
    forged = copy.deepcopy(body)
    forged["tally"]["winner"] = "later"
    replay = LogReplay.start(NODE.did)
    position = next(i for i, leaf in enumerate(log.leaves) if b'"proposal.result"' in leaf)
    for leaf in log.leaves[:position]:
        replay.add(leaf)
    with pytest.raises(GovernanceRefused):
        replay.add(leaf_bytes(entry(NODE, "proposal.result", forged, AFTER)))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (proposal_body(options=["yes"]), "body.options"),
        (proposal_body(options=["yes", "yes"]), "body.options"),
        (proposal_body(method="plurality"), "body.method"),
        (proposal_body(closes=OPENS), "body.closes"),
        (proposal_body(closes="2026-06-03T10:00:00Z"), "body.closes"),
        (proposal_body(quorum={"num": 3, "den": 2}), "body.quorum.num"),
        (proposal_body(quorum="1/2"), "body.quorum"),
        (proposal_body(method="supermajority"), "body.threshold"),
        (proposal_body(method="supermajority", threshold={"num": 1, "den": 2}), "body.threshold"),
        (proposal_body(threshold={"num": 2, "den": 3}), "body.threshold"),
        (proposal_body(method="score"), "body.max_score"),
        (proposal_body(method="consent"), "body.options"),
        (proposal_body(delegation="Not A Topic"), "body.delegation"),
        (proposal_body(action={"kind": "coffee.make", "params": {}}), "body.action.kind"),
        (
            proposal_body(
                action={"kind": "member.admit", "params": {"member": "x", "role": "member"}}
            ),
            "body.action.params.member",
        ),
        (
            proposal_body(action={"kind": "node.parameter", "params": {"name": "x", "value": 1}}),
            "body.action.params.name",
        ),
        (
            proposal_body(
                action={
                    "kind": "node.parameter",
                    "params": {"name": "required_cosignatures", "value": 99},
                }
            ),
            "body.action.params.value",
        ),
        ({**proposal_body(), "extra": 1}, "body.extra"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_malformed_proposals_are_invalid_records(
    log: Log, body: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidRecord) as caught:
        log.state.admit_entry(entry(ANA, "proposal", body))
    assert caught.value.field == field


def test_a_log_holding_a_refused_ballot_fails_verification(log: Log) -> None:
    """A node that slipped a non-member's or a late ballot into its log is caught there."""
    pid = log.propose()
    log.add(ballot(ANA, pid, "yes"))
    for bad in (ballot(STRANGER, pid), ballot(BEN, pid, created=AFTER), ballot(CAT, pid, "maybe")):
        replay = LogReplay.start(NODE.did)
        for leaf in log.leaves:
            replay.add(leaf)
        with pytest.raises(GovernanceRefused):
            replay.add(leaf_bytes(bad))
        assert replay.size == len(log.leaves)
