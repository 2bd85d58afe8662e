"""`proposal`, `ballot`, `proposal.result`, `delegation` and `node.parameter` records (issue 7).

specs/06-governance.md §3–§9 gives their schemas and rules. The rules decide
every governance entry from the log alone: who may propose and vote, which
ballots enter (members of the proposal's electorate, inside its window,
valid for its method), that a result carries exactly the tally the log
implies, and that a record citing a decision executes it exactly, once.
Unknown body fields are refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from governance.actions import canonical_equal, validate_parameter
from governance.electorate import (
    adopted,
    closed_result,
    governance_state,
    in_electorate,
    open_proposal,
    snapshot,
    tally_of_entry,
    terms_of,
)
from governance.errors import GovernanceRefused
from governance.tally import Tally
from governance.terms import TERMS_KEYS, Choice, Terms, choice_problem, topic_field
from protocol.authority import LogAuthority, register_check, register_observer, register_rule
from protocol.did import Did
from protocol.errors import InvalidRecord, Unauthorised
from protocol.fields import check_keys, did_field, record_id_field, str_field
from protocol.membership import MemberAdmit, MemberLeave
from protocol.peers import PeerBlock, PeerFederate
from protocol.records import Record, RecordId, register_record_type
from protocol.signing import record_id

__all__ = [
    "MAX_OPEN_PER_AUTHOR",
    "Ballot",
    "Delegation",
    "NodeParameter",
    "Proposal",
    "ProposalResult",
]

# specs/06-governance.md §8.2: bounds the state every verifier keeps.
MAX_OPEN_PER_AUTHOR = 16
MAX_TEXT_CHARS = 20_000


@register_record_type
@dataclass(frozen=True, slots=True, kw_only=True)
class Proposal:
    """proposal: a member asks the cooperative to decide (specs/06-governance.md §3)."""

    TYPE: ClassVar[str] = "proposal"
    title: str
    text: str
    terms: Terms

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        check_keys(data, ("title", "text", "options", "method", "opens", "closes", "quorum"),
                   ("threshold", "max_score", "delegation", "action"))  # fmt: skip
        return cls(
            title=str_field(data, "title", max_len=200),
            text=str_field(data, "text", max_len=MAX_TEXT_CHARS),
            terms=Terms.from_dict({k: v for k, v in data.items() if k in TERMS_KEYS}),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "text": self.text, **self.terms.to_dict()}


@register_record_type
@dataclass(frozen=True, slots=True, kw_only=True)
class Ballot:
    """ballot: a member's vote on a proposal of this log (specs/06-governance.md §4)."""

    TYPE: ClassVar[str] = "ballot"
    proposal: RecordId
    choice: Choice

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        check_keys(data, ("proposal",), ("choice", "approve", "ranking", "scores", "abstain"))
        return cls(
            proposal=record_id_field(data, "proposal"),
            choice=Choice.from_dict({k: v for k, v in data.items() if k != "proposal"}),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"proposal": self.proposal, **self.choice.to_dict()}


@register_record_type
@dataclass(frozen=True, slots=True, kw_only=True)
class ProposalResult:
    """proposal.result: the node closes a proposal with its tally (specs/06-governance.md §7)."""

    TYPE: ClassVar[str] = "proposal.result"
    proposal: RecordId
    tally: Tally

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        check_keys(data, ("proposal", "tally"))
        return cls(proposal=record_id_field(data, "proposal"), tally=Tally.from_dict(data["tally"]))

    def to_dict(self) -> dict[str, Any]:
        return {"proposal": self.proposal, "tally": self.tally.to_dict()}


@register_record_type
@dataclass(frozen=True, slots=True, kw_only=True)
class Delegation:
    """delegation: a member lends their vote on a topic to another member, or takes it back."""

    TYPE: ClassVar[str] = "delegation"
    topic: str
    delegate: Did | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        check_keys(data, ("topic",), ("delegate",))
        return cls(
            topic=topic_field(data, "topic"),
            delegate=did_field(data, "delegate") if "delegate" in data else None,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"topic": self.topic}
        if self.delegate is not None:
            out["delegate"] = self.delegate
        return out


@register_record_type
@dataclass(frozen=True, slots=True, kw_only=True)
class NodeParameter:
    """node.parameter: the node sets a parameter as an adopted decision says."""

    TYPE: ClassVar[str] = "node.parameter"
    name: str
    value: Any
    result: RecordId

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        check_keys(data, ("name", "value", "result"))
        validate_parameter(data)
        return cls(name=data["name"], value=data["value"], result=record_id_field(data, "result"))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "result": self.result}


# --- rules (specs/06-governance.md §8) -------------------------------------------------------


def _member(state: LogAuthority, record: Record) -> Did:
    try:
        return state.require_member(record)
    except Unauthorised as exc:
        raise GovernanceRefused("not-a-member", str(exc)) from exc


def _check_proposal(state: LogAuthority, record: Record, body: Proposal) -> None:
    identity = _member(state, record)
    if body.terms.closes_at <= record.created_at:
        raise GovernanceRefused("invalid-proposal", "the proposal closes before it was made")
    gov = state.extensions.get("governance")
    open_now = gov.get("open", {}) if isinstance(gov, dict) else {}
    mine = sum(1 for entry in open_now.values() if entry.get("author") == identity)
    if mine >= MAX_OPEN_PER_AUTHOR:
        raise GovernanceRefused(
            "too-many-open-proposals", f"a member may have {MAX_OPEN_PER_AUTHOR} open proposals"
        )


def _apply_proposal(state: LogAuthority, record: Record, body: Proposal) -> None:
    electorate, delegations = snapshot(state, body.terms)
    governance_state(state)["open"][record_id(record)] = {
        "author": state.identity(record.author),
        "terms": body.terms.to_dict(),
        "electorate": electorate,
        "delegations": delegations,
        "ballots": {},
    }


def _open_entry(state: LogAuthority, proposal_id: str) -> dict[str, Any]:
    entry = open_proposal(state, proposal_id)
    if entry is not None:
        return entry
    if closed_result(state, proposal_id) is not None:
        raise GovernanceRefused("proposal-closed", f"proposal {proposal_id} has its result")
    raise GovernanceRefused("unknown-proposal", f"no proposal {proposal_id} in this log")


def _check_ballot(state: LogAuthority, record: Record, body: Ballot) -> None:
    entry = _open_entry(state, body.proposal)
    identity = _member(state, record)
    if not in_electorate(entry, identity):
        raise GovernanceRefused(
            "not-in-electorate", f"{identity} was not a member when the proposal was made"
        )
    terms = terms_of(body.proposal, entry)
    created = record.created_at
    if created < terms.opens_at:
        raise GovernanceRefused("proposal-not-open", f"voting opens at {terms.opens}")
    if created >= terms.closes_at:
        raise GovernanceRefused("proposal-closed", f"voting closed at {terms.closes}")
    problem = choice_problem(terms, body.choice)
    if problem is not None:
        raise GovernanceRefused("invalid-ballot", problem)


def _apply_ballot(state: LogAuthority, record: Record, body: Ballot) -> None:
    entry = governance_state(state)["open"][body.proposal]
    entry["ballots"][state.identity(record.author)] = body.choice.to_dict()


def _check_result(state: LogAuthority, record: Record, body: ProposalResult) -> None:
    state.require_node(record)
    entry = _open_entry(state, body.proposal)
    terms = terms_of(body.proposal, entry)
    if record.created_at < terms.closes_at:
        raise GovernanceRefused("result-too-early", f"the proposal closes at {terms.closes}")
    expected = tally_of_entry(entry, body.proposal, now=record.created_at)
    if not canonical_equal(body.tally.to_dict(), expected.to_dict()):
        raise GovernanceRefused("tally-mismatch", "the tally is not the one this log implies")


def _apply_result(state: LogAuthority, record: Record, body: ProposalResult) -> None:
    gov = governance_state(state)
    entry = gov["open"].pop(body.proposal)
    result_id = record_id(record)
    gov["closed"][body.proposal] = result_id
    action = entry["terms"].get("action")
    if body.tally.adopted and action is not None:
        gov["adopted"][result_id] = {"proposal": body.proposal, "action": action, "executed": False}


def _check_delegation(state: LogAuthority, record: Record, body: Delegation) -> None:
    identity = _member(state, record)
    if body.delegate is None:
        return
    if body.delegate == identity:
        raise GovernanceRefused("invalid-delegation", "a member cannot delegate to themself")
    if body.delegate not in state.members:
        raise GovernanceRefused("invalid-delegation", f"{body.delegate} is not a member")


def _apply_delegation(state: LogAuthority, record: Record, body: Delegation) -> None:
    topic = governance_state(state)["delegations"].setdefault(body.topic, {})
    identity = state.identity(record.author)
    if body.delegate is None:
        topic.pop(identity, None)
    else:
        topic[identity] = body.delegate
    if not topic:
        del governance_state(state)["delegations"][body.topic]


def _decision(state: LogAuthority, record: Record, result: str, kind: str) -> dict[str, Any]:
    """The adopted, unexecuted action `result` names, which must be of `kind`."""
    if record.author != state.node:
        raise GovernanceRefused("decision-mismatch", "only the node key executes decisions")
    entry = adopted(state).get(result)
    if not isinstance(entry, dict):
        raise GovernanceRefused("not-adopted", f"{result} adopted no action in this log")
    if entry.get("executed"):
        raise GovernanceRefused("already-executed", f"the decision {result} was executed")
    action: dict[str, Any] = entry["action"]
    if action.get("kind") != kind:
        raise GovernanceRefused("decision-mismatch", f"{result} adopted a {action.get('kind')}")
    params: dict[str, Any] = action["params"]
    return params


def _expected_params(record: Record, body: Any) -> dict[str, Any]:
    """The params of the action a record executes (specs/06-governance.md §9.2)."""
    if isinstance(body, MemberAdmit):
        return {"member": body.member, "role": body.role}
    if isinstance(body, MemberLeave):
        out = {"member": body.member}
        return out if body.reason is None else {**out, "reason": body.reason}
    if isinstance(body, PeerFederate):
        return {"url": body.url, "did": body.peer}
    if isinstance(body, PeerBlock):
        return {"did": body.peer, "reason": body.reason}
    raise InvalidRecord("type", f"{record.type} executes no decision")


def _check_cited(state: LogAuthority, record: Record, body: Any) -> None:
    result = getattr(body, "result", None)
    if result is None:
        return
    params = dict(_decision(state, record, result, record.type))
    expected = _expected_params(record, body)
    if isinstance(body, PeerFederate) and isinstance(params.get("url"), str):
        # The node stores a peer's URL without a trailing slash (03-federation §1.2).
        params["url"] = params["url"].rstrip("/")
        expected["url"] = expected["url"].rstrip("/")
    if not canonical_equal(params, expected):
        raise GovernanceRefused("decision-mismatch", "the record does not execute the decision")


def _mark_executed(state: LogAuthority, record: Record, body: Any) -> None:
    result = getattr(body, "result", None)
    if result is not None and result in adopted(state):
        governance_state(state)["adopted"][result]["executed"] = True


def _check_parameter(state: LogAuthority, record: Record, body: NodeParameter) -> None:
    state.require_node(record)
    params = _decision(state, record, body.result, "node.parameter")
    if not canonical_equal(params, {"name": body.name, "value": body.value}):
        raise GovernanceRefused("decision-mismatch", "the parameter is not the one decided")


def _apply_parameter(state: LogAuthority, record: Record, body: NodeParameter) -> None:
    governance_state(state)["parameters"][body.name] = body.value
    _mark_executed(state, record, body)


register_rule(Proposal.TYPE, _check_proposal, _apply_proposal)
register_rule(Ballot.TYPE, _check_ballot, _apply_ballot)
register_rule(ProposalResult.TYPE, _check_result, _apply_result)
register_rule(Delegation.TYPE, _check_delegation, _apply_delegation)
register_rule(NodeParameter.TYPE, _check_parameter, _apply_parameter)
for _cited in (MemberAdmit.TYPE, MemberLeave.TYPE, PeerFederate.TYPE, PeerBlock.TYPE):
    register_check(_cited, _check_cited)
    register_observer(_cited, _mark_executed)
