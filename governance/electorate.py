"""The governance part of a log's authorisation state (specs/06-governance.md §8.1).

The rules keep, in `state.extensions["governance"]`, what a verifier needs
to decide every governance entry from the log alone: each open proposal's
terms, its electorate and delegations as of its position, and the last
ballot of each voter; the proposals closed and their results; the adopted
decisions and whether they were executed; the delegations in force per
topic; and the node parameters set by decisions. Everything is JSON.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from governance.tally import Tally, Vote, tally
from governance.terms import Choice, Terms
from protocol.authority import LogAuthority
from protocol.did import Did

__all__ = [
    "adopted",
    "closed_result",
    "delegations_for",
    "governance_state",
    "in_electorate",
    "live_tally",
    "node_parameter",
    "open_proposal",
    "open_proposals",
    "snapshot",
    "tally_of_entry",
    "terms_of",
]

KEY = "governance"


def governance_state(state: LogAuthority) -> dict[str, Any]:
    """The governance extension of `state`, created empty on first use."""
    gov = state.extensions.get(KEY)
    if not isinstance(gov, dict):
        gov = {}
        state.extensions[KEY] = gov
    for part in ("open", "closed", "adopted", "delegations", "parameters"):
        gov.setdefault(part, {})
    return gov


def _read(state: LogAuthority, part: str) -> dict[str, Any]:
    gov = state.extensions.get(KEY)
    if not isinstance(gov, dict):
        return {}
    value = gov.get(part)
    return value if isinstance(value, dict) else {}


def open_proposals(state: LogAuthority) -> dict[str, dict[str, Any]]:
    """proposal id -> its open entry (read-only view; do not mutate)."""
    return _read(state, "open")


def open_proposal(state: LogAuthority, proposal_id: str) -> dict[str, Any] | None:
    entry = _read(state, "open").get(proposal_id)
    return entry if isinstance(entry, dict) else None


def closed_result(state: LogAuthority, proposal_id: str) -> str | None:
    """The id of the proposal.result that closed this proposal, if any."""
    value = _read(state, "closed").get(proposal_id)
    return value if isinstance(value, str) else None


def adopted(state: LogAuthority) -> dict[str, dict[str, Any]]:
    """result id -> {"proposal", "action", "executed"} for adopted proposals with an action."""
    return _read(state, "adopted")


def delegations_for(state: LogAuthority, topic: str) -> dict[str, str]:
    value = _read(state, "delegations").get(topic)
    return dict(value) if isinstance(value, dict) else {}


def node_parameter(state: LogAuthority, name: str, default: Any) -> Any:
    """The value a decision set for a node parameter, or `default` if none did."""
    return _read(state, "parameters").get(name, default)


def snapshot(state: LogAuthority, terms: Terms) -> tuple[list[str], dict[str, str]]:
    """(sorted electorate, delegations) as of this position, for a proposal being admitted.

    specs/06-governance.md §2: the electorate is every member (any role) at
    the proposal's position; delegations are those in force there for its topic.
    """
    electorate: list[str] = sorted(state.members)
    delegations = delegations_for(state, terms.delegation) if terms.delegation else {}
    return electorate, delegations


def in_electorate(entry: Mapping[str, Any], identity: str) -> bool:
    """Is identity in the open proposal's (sorted) electorate? O(log n)."""
    electorate: list[str] = entry["electorate"]
    i = bisect.bisect_left(electorate, identity)
    return i < len(electorate) and electorate[i] == identity


# A proposal's id is the hash of a record holding its terms, so the terms
# parsed for an id are the same in every log and every state: cache them.
_TERMS: dict[str, Terms] = {}
_TERMS_CACHED = 256


def terms_of(proposal_id: str, entry: Mapping[str, Any]) -> Terms:
    """The parsed terms of an open proposal's state entry."""
    terms = _TERMS.get(proposal_id)
    if terms is None:
        if len(_TERMS) >= _TERMS_CACHED:
            _TERMS.clear()
        terms = _TERMS[proposal_id] = Terms.from_dict(entry["terms"])
    return terms


def tally_of_entry(entry: Mapping[str, Any], proposal_id: str, *, now: datetime) -> Tally:
    """The tally of an open proposal from its state entry (the rules' own recomputation)."""
    terms = terms_of(proposal_id, entry)
    votes = [
        Vote(voter=Did(voter), choice=Choice.from_dict(choice), created=terms.opens_at)
        for voter, choice in sorted(entry["ballots"].items())
    ]
    return tally(
        terms,
        votes,
        proposal_id=proposal_id,
        electorate=[Did(m) for m in entry["electorate"]],
        delegations={Did(k): Did(v) for k, v in entry["delegations"].items()},
        now=now,
    )


def live_tally(state: LogAuthority, proposal_id: str, *, now: datetime) -> Tally | None:
    """The tally of an open proposal at `now`, or None if it is not open in this state."""
    entry = open_proposal(state, proposal_id)
    return None if entry is None else tally_of_entry(entry, proposal_id, now=now)
