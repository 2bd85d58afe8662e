"""The tally of a proposal: pure, deterministic, recomputable by anyone from the log.

specs/06-governance.md §5–§6. `tally` takes the terms, the ballots in log
order, the electorate and the delegations (both as of the proposal's
position) and a time, and returns counts per option, turnout, whether the
quorum is met, the winner, whether the proposal is adopted and, for ranked
choice, every round. It never reads a clock and never raises for a bad
ballot: a ballot that is not valid is simply never counted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self

from governance.terms import (
    MAX_OPTION_CHARS,
    MAX_OPTIONS,
    Choice,
    Terms,
    choice_problem,
    nested,
)
from protocol.did import Did
from protocol.errors import InvalidRecord
from protocol.fields import check_keys, enum_field

__all__ = ["Round", "Tally", "Vote", "effective_choices", "tally", "tie_break_key"]

_MAX_COUNT = 2**53 - 1
TIE_BREAKS = ("earlier_rounds", "hash")


@dataclass(frozen=True, slots=True)
class Vote:
    """One ballot as the log holds it: who cast it (an identity), what it says, when."""

    voter: Did
    choice: Choice
    created: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Round:
    """One round of an instant runoff: counts of the continuing options, and who went out."""

    counts: Mapping[str, int]
    exhausted: int
    eliminated: str | None = None
    tie_break: str | None = None

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        if not isinstance(data, Mapping):
            raise InvalidRecord("body.tally.rounds", "each round is an object")
        check_keys(data, ("counts", "exhausted"), ("eliminated", "tie_break"))
        eliminated = data.get("eliminated")
        if eliminated is not None and not isinstance(eliminated, str):
            raise InvalidRecord("body.tally.rounds", "eliminated is an option")
        return cls(
            counts=_counts(data["counts"]),
            exhausted=_count(data["exhausted"]),
            eliminated=eliminated,
            tie_break=enum_field(data, "tie_break", TIE_BREAKS) if "tie_break" in data else None,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"counts": dict(self.counts), "exhausted": self.exhausted}
        if self.eliminated is not None:
            out["eliminated"] = self.eliminated
        if self.tie_break is not None:
            out["tie_break"] = self.tie_break
        return out


def _count(value: Any) -> int:
    if type(value) is not int or not 0 <= value <= _MAX_COUNT:
        raise InvalidRecord("body.tally", "counts are non-negative integers")
    return value


def _counts(value: Any) -> dict[str, int]:
    if not isinstance(value, Mapping) or len(value) > MAX_OPTIONS:
        raise InvalidRecord("body.tally", "counts are an object of options")
    for option in value:
        if not 1 <= len(option) <= MAX_OPTION_CHARS:
            raise InvalidRecord("body.tally", "counts are keyed by options")
    return {option: _count(n) for option, n in value.items()}


def _flag(data: Mapping[str, Any], key: str) -> bool:
    value = data[key]
    if not isinstance(value, bool):
        raise InvalidRecord(f"body.tally.{key}", "must be true or false")
    return value


_TALLY_REQUIRED = (
    "method",
    "final",
    "electorate",
    "voters",
    "direct",
    "delegated",
    "abstained",
    "quorum_met",
    "counts",
    "adopted",
)
_TALLY_OPTIONAL = ("rounds", "winner", "tied")


@dataclass(frozen=True, slots=True, kw_only=True)
class Tally:
    """The outcome of a proposal at a time (specs/06-governance.md §5.4)."""

    method: str
    final: bool
    electorate: int
    voters: int
    direct: int
    delegated: int
    abstained: int
    quorum_met: bool
    counts: Mapping[str, int]
    adopted: bool
    rounds: tuple[Round, ...] | None = None
    winner: str | None = None
    tied: tuple[str, ...] | None = None

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        """Validate the JSON form of a tally (in a proposal.result). Raises InvalidRecord."""
        if not isinstance(data, Mapping):
            raise InvalidRecord("body.tally", "must be an object")
        try:
            check_keys(data, _TALLY_REQUIRED, _TALLY_OPTIONAL)
        except InvalidRecord as exc:
            raise nested("body.tally", exc) from exc
        rounds = data.get("rounds")
        if rounds is not None and (not isinstance(rounds, list) or len(rounds) > MAX_OPTIONS):
            raise InvalidRecord("body.tally.rounds", f"must be a list of at most {MAX_OPTIONS}")
        winner = data.get("winner")
        if winner is not None and not (isinstance(winner, str) and winner):
            raise InvalidRecord("body.tally.winner", "must be an option")
        tied = data.get("tied")
        if tied is not None and (
            not isinstance(tied, list)
            or not 2 <= len(tied) <= MAX_OPTIONS
            or not all(isinstance(t, str) and t for t in tied)
        ):
            raise InvalidRecord("body.tally.tied", "must be a list of 2 or more options")
        method = data["method"]
        if not isinstance(method, str) or len(method) > 32:
            raise InvalidRecord("body.tally.method", "must be a method")
        return cls(
            method=method,
            final=_flag(data, "final"),
            electorate=_count(data["electorate"]),
            voters=_count(data["voters"]),
            direct=_count(data["direct"]),
            delegated=_count(data["delegated"]),
            abstained=_count(data["abstained"]),
            quorum_met=_flag(data, "quorum_met"),
            counts=_counts(data["counts"]),
            adopted=_flag(data, "adopted"),
            rounds=tuple(Round.from_dict(r) for r in rounds) if rounds is not None else None,
            winner=winner,
            tied=tuple(tied) if tied is not None else None,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "method": self.method,
            "final": self.final,
            "electorate": self.electorate,
            "voters": self.voters,
            "direct": self.direct,
            "delegated": self.delegated,
            "abstained": self.abstained,
            "quorum_met": self.quorum_met,
            "counts": dict(self.counts),
            "adopted": self.adopted,
        }
        if self.rounds is not None:
            out["rounds"] = [r.to_dict() for r in self.rounds]
        if self.winner is not None:
            out["winner"] = self.winner
        if self.tied is not None:
            out["tied"] = list(self.tied)
        return out


def effective_choices(
    terms: Terms,
    votes: Sequence[Vote],
    *,
    electorate: Collection[Did],
    delegations: Mapping[Did, Did] | None = None,
) -> tuple[dict[Did, Choice], dict[Did, Choice]]:
    """(direct, delegated) choices per voter, after every rule of §5.1–§5.3.

    A vote counts only if its voter is in the electorate, it was created in
    [opens, closes), and it is valid for the terms; a voter's last such vote
    in log order is the one counted. A member without a counted vote follows
    their delegation chain (when the terms allow delegation) to the first
    member with one; a chain that leaves the electorate, ends, or comes back
    to a member already on it (a cycle) gives no vote.
    """
    members = frozenset(electorate)
    opens, closes = terms.opens_at, terms.closes_at
    direct: dict[Did, Choice] = {}
    for vote in votes:
        if vote.voter not in members or not opens <= vote.created < closes:
            continue
        if choice_problem(terms, vote.choice) is not None:
            continue
        direct[vote.voter] = vote.choice
    delegated: dict[Did, Choice] = {}
    if terms.delegation is not None and delegations:
        for member in sorted(members):
            if member in direct:
                continue
            seen = {member}
            current = delegations.get(member)
            while current is not None and current in members and current not in seen:
                if current in direct:
                    delegated[member] = direct[current]
                    break
                seen.add(current)
                current = delegations.get(current)
    return direct, delegated


def tie_break_key(proposal_id: str, option: str) -> bytes:
    """specs/06-governance.md §6.5: the last resort orders tied options by this hash."""
    return hashlib.sha256(proposal_id.encode("utf-8") + b"\n" + option.encode("utf-8")).digest()


def _unique_max(
    counts: Mapping[str, int], options: Sequence[str]
) -> tuple[str | None, tuple[str, ...] | None]:
    """The option with the most, or (None, the tied options) when several share it."""
    if not options:
        return None, None
    best = max(counts[o] for o in options)
    top = tuple(o for o in options if counts[o] == best)
    if len(top) == 1:
        return top[0], None
    return None, top


def _instant_runoff(
    terms: Terms, rankings: Sequence[tuple[str, ...]], proposal_id: str
) -> tuple[tuple[Round, ...], str | None]:
    """specs/06-governance.md §6.5: eliminate the weakest option until one has a majority."""
    continuing = list(terms.options)
    history: list[dict[str, int]] = []
    rounds: list[Round] = []
    while True:
        still = set(continuing)
        counts = dict.fromkeys(continuing, 0)
        exhausted = 0
        for ranking in rankings:
            top = next((o for o in ranking if o in still), None)
            if top is None:
                exhausted += 1
            else:
                counts[top] += 1
        active = sum(counts.values())
        leader = max(continuing, key=lambda o: counts[o])
        if active == 0 or counts[leader] * 2 > active:
            rounds.append(Round(counts=counts, exhausted=exhausted))
            return tuple(rounds), (leader if active > 0 else None)
        fewest = min(counts.values())
        tied = [o for o in continuing if counts[o] == fewest]
        tie_break: str | None = None
        if len(tied) > 1:
            for earlier in reversed(history):
                least = min(earlier[o] for o in tied)
                tied = [o for o in tied if earlier[o] == least]
                if len(tied) == 1:
                    tie_break = "earlier_rounds"
                    break
            if len(tied) > 1:
                tie_break = "hash"
                tied = [min(tied, key=lambda o: tie_break_key(proposal_id, o))]
        out = tied[0]
        rounds.append(
            Round(counts=counts, exhausted=exhausted, eliminated=out, tie_break=tie_break)
        )
        history.append(counts)
        continuing.remove(out)


def tally(
    terms: Terms,
    votes: Sequence[Vote],
    *,
    proposal_id: str,
    electorate: Collection[Did],
    delegations: Mapping[Did, Did] | None = None,
    now: datetime,
) -> Tally:
    """The tally of a proposal at `now` (final once now >= closes). Never raises for bad votes."""
    direct, delegated = effective_choices(
        terms, votes, electorate=electorate, delegations=delegations
    )
    # Counting follows sorted voters, so the result never depends on vote order.
    counted = [c for _, c in sorted({**direct, **delegated}.items())]
    cast = [c for c in counted if not c.abstain]
    size = len(frozenset(electorate))
    voters = len(counted)
    quorum_met = voters * terms.quorum.den >= terms.quorum.num * size
    options = terms.options
    rounds: tuple[Round, ...] | None = None
    winner: str | None = None
    tied: tuple[str, ...] | None = None
    counts = dict.fromkeys(options, 0)
    method = terms.method
    if method in ("majority", "supermajority", "consent"):
        for c in cast:
            assert c.choice is not None
            counts[c.choice] += 1
        total = sum(counts.values())
        if method == "consent":
            # specs/06-governance.md §6.3: any block blocks; otherwise consent passes.
            if counts["block"] > 0:
                winner = "block"
            elif total > 0:
                winner = "consent"
        elif total > 0:
            leader = max(options, key=lambda o: counts[o])
            if method == "majority":
                won = counts[leader] * 2 > total
            else:
                assert terms.threshold is not None
                won = counts[leader] * terms.threshold.den >= terms.threshold.num * total
            winner = leader if won else None
    elif method == "approval":
        for c in cast:
            for option in c.approve or ():
                counts[option] += 1
        if any(counts.values()):
            winner, tied = _unique_max(counts, options)
    elif method == "score":
        for c in cast:
            for option, score in (c.scores or {}).items():
                counts[option] += score
        if cast:
            winner, tied = _unique_max(counts, options)
    else:
        rankings = [c.ranking for c in cast if c.ranking is not None]
        rounds, winner = _instant_runoff(terms, rankings, proposal_id)
        counts = dict(rounds[0].counts)
    return Tally(
        method=method,
        final=now >= terms.closes_at,
        electorate=size,
        voters=voters,
        direct=len(direct),
        delegated=len(delegated),
        abstained=len(counted) - len(cast),
        quorum_met=quorum_met,
        counts=counts,
        adopted=quorum_met and winner == options[0],
        rounds=rounds,
        winner=winner,
        tied=tied,
    )
