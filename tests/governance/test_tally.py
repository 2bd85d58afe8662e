"""governance/tally.py on hand-worked cases and on published worked examples.

Every expected figure here was worked out by hand or transcribed from the
named source; none is computed by the code under test. The instant-runoff
tie-break hash is recomputed with hashlib from its definition in
specs/06-governance.md §6.5.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest

from governance.tally import Tally, Vote, tally
from governance.terms import Choice, Terms
from protocol.did import Did
from protocol.records import parse_time

PID = "sha256:" + "5" * 64
OPENS = "2025-06-01T10:00:00Z"
CLOSES = "2025-06-08T10:00:00Z"
OPENED = parse_time(OPENS)


def terms(method: str, options: list[str], **extra: Any) -> Terms:
    data: dict[str, Any] = {
        "options": options,
        "method": method,
        "opens": OPENS,
        "closes": CLOSES,
        "quorum": {"num": 0, "den": 1},
        **extra,
    }
    return Terms.from_dict(data)


def voter(n: int) -> Did:
    return Did(f"voter-{n:04d}")


def profile(groups: list[tuple[int, list[str]]]) -> list[Vote]:
    """A preference schedule: (number of voters, ranking) per column, one vote each."""
    votes: list[Vote] = []
    for count, ranking in groups:
        for _ in range(count):
            votes.append(
                Vote(voter=voter(len(votes)), choice=Choice(ranking=tuple(ranking)), created=OPENED)
            )
    return votes


def run(t: Terms, votes: list[Vote], *, electorate: list[Did] | None = None, **kw: Any) -> Tally:
    members = electorate if electorate is not None else sorted({v.voter for v in votes})
    return tally(t, votes, proposal_id=PID, electorate=members, now=t.closes_at, **kw)


def rounds_of(result: Tally) -> list[tuple[dict[str, int], str | None]]:
    assert result.rounds is not None
    return [(dict(r.counts), r.eliminated) for r in result.rounds]


# --------------------------------------------------------------- published instant-runoff examples


def test_irv_tennessee_capital_example() -> None:
    """Wikipedia, "Instant-runoff voting" (and "Tennessee example"): the state capital vote.

    42% Memphis > Nashville > Chattanooga > Knoxville; 26% Nashville >
    Chattanooga > Knoxville > Memphis; 15% Chattanooga > Knoxville >
    Nashville > Memphis; 17% Knoxville > Chattanooga > Nashville > Memphis.
    Published count: Chattanooga is eliminated (15), its votes go to
    Knoxville (32); Nashville is eliminated (26), its votes go on to
    Knoxville; Knoxville wins with 58 to Memphis's 42.
    """
    m, n, c, k = "Memphis", "Nashville", "Chattanooga", "Knoxville"
    votes = profile(
        [(42, [m, n, c, k]), (26, [n, c, k, m]), (15, [c, k, n, m]), (17, [k, c, n, m])]
    )
    result = run(terms("ranked", [m, n, c, k]), votes)
    assert rounds_of(result) == [
        ({m: 42, n: 26, c: 15, k: 17}, c),
        ({m: 42, n: 26, k: 32}, n),
        ({m: 42, k: 58}, None),
    ]
    assert result.winner == k
    assert dict(result.counts) == {m: 42, n: 26, c: 15, k: 17}


def test_irv_slogans_example() -> None:
    """ "Quantitative Reasoning", Democracy and Voting, advertising slogans example
    (https://mathatgrace.github.io/qw/sec-democracy-voting.html).

    20 voters: 5 D>A>C>B, 3 A>C>B>D, 6 C>B>A>D, 4 B>D>A>C, 2 A>D>C>B. Published:
    C wins plurality (6); instant runoff eliminates B (4 votes to D, 9), then
    A (3 to C, 2 to D), and D wins, 11 to 9.
    """
    votes = profile(
        [
            (5, ["D", "A", "C", "B"]),
            (3, ["A", "C", "B", "D"]),
            (6, ["C", "B", "A", "D"]),
            (4, ["B", "D", "A", "C"]),
            (2, ["A", "D", "C", "B"]),
        ]
    )
    result = run(terms("ranked", ["A", "B", "C", "D"]), votes)
    assert rounds_of(result) == [
        ({"A": 5, "B": 4, "C": 6, "D": 5}, "B"),
        ({"A": 5, "C": 6, "D": 9}, "A"),
        ({"C": 9, "D": 11}, None),
    ]
    assert result.winner == "D"


def test_irv_monotonicity_example() -> None:
    """Kaltofen, MA351 Introduction to Discrete Mathematical Models, NCSU, Fall 2016
    (http://www4.ncsu.edu/~kaltofen/courses/DiscreteModels/Fall16/index.html).

    7 A>B>C>D, 6 B>A>C>D, 5 C>B>A>D, 3 D>C>B>A: D is eliminated, then B, and A
    wins with 13. When the 3 move A from last to first (A>D>C>B), D is
    eliminated first with 0 votes, then C, and B wins.
    """
    options = ["A", "B", "C", "D"]
    before = profile(
        [
            (7, ["A", "B", "C", "D"]),
            (6, ["B", "A", "C", "D"]),
            (5, ["C", "B", "A", "D"]),
            (3, ["D", "C", "B", "A"]),
        ]
    )
    result = run(terms("ranked", options), before)
    assert rounds_of(result) == [
        ({"A": 7, "B": 6, "C": 5, "D": 3}, "D"),
        ({"A": 7, "B": 6, "C": 8}, "B"),
        ({"A": 13, "C": 8}, None),
    ]
    assert result.winner == "A"
    after = profile(
        [
            (7, ["A", "B", "C", "D"]),
            (6, ["B", "A", "C", "D"]),
            (5, ["C", "B", "A", "D"]),
            (3, ["A", "D", "C", "B"]),
        ]
    )
    result = run(terms("ranked", options), after)
    assert rounds_of(result) == [
        ({"A": 10, "B": 6, "C": 5, "D": 0}, "D"),
        ({"A": 10, "B": 6, "C": 5}, "C"),
        ({"A": 10, "B": 11}, None),
    ]
    assert result.winner == "B"


# ------------------------------------------------------------------------ instant-runoff tie-breaks


def _hash(option: str) -> bytes:
    return hashlib.sha256(f"{PID}\n{option}".encode()).digest()


def test_irv_tie_broken_by_earlier_rounds() -> None:
    # Round 1: A 7, B 3, C 4, D 1 -> D out, its ballot goes to B.
    # Round 2: A 7, B 4, C 4: B and C tie; in round 1 B had 3 < C's 4, so B goes.
    # Round 3: B's four ballots go to C: A 7, C 8 of 15, a majority.
    votes = profile([(7, ["A"]), (3, ["B", "C"]), (4, ["C"]), (1, ["D", "B", "C"])])
    result = run(terms("ranked", ["A", "B", "C", "D"]), votes)
    assert result.rounds is not None
    assert [(r.eliminated, r.tie_break) for r in result.rounds] == [
        ("D", None),
        ("B", "earlier_rounds"),
        (None, None),
    ]
    assert dict(result.rounds[2].counts) == {"A": 7, "C": 8}
    assert result.winner == "C"


def test_irv_tie_broken_by_hash_when_every_round_ties() -> None:
    # X 2, Y 1, Z 1: no majority (2 of 4), and Y and Z tie in the only round so far.
    votes = profile([(2, ["X"]), (1, ["Y", "X"]), (1, ["Z", "X"])])
    result = run(terms("ranked", ["X", "Y", "Z"]), votes)
    out, kept = ("Y", "Z") if _hash("Y") < _hash("Z") else ("Z", "Y")
    assert result.rounds is not None
    assert [(r.eliminated, r.tie_break) for r in result.rounds] == [
        (out, "hash"),
        (None, None),
    ]
    assert dict(result.rounds[1].counts) == {"X": 3, kept: 1}
    assert result.winner == "X"


def test_irv_even_split_of_two_is_decided_by_the_hash() -> None:
    votes = profile([(5, ["P", "Q"]), (5, ["Q", "P"])])
    result = run(terms("ranked", ["P", "Q"]), votes)
    loser = "P" if _hash("P") < _hash("Q") else "Q"
    winner = "Q" if loser == "P" else "P"
    assert rounds_of(result) == [({"P": 5, "Q": 5}, loser), ({winner: 10}, None)]
    assert result.winner == winner


def test_irv_exhausted_ballots_are_counted_per_round() -> None:
    # A 4, B 3, C 2 (C voters rank only C): C out, its 2 ballots exhaust; A 4 of 7 wins.
    votes = profile([(4, ["A"]), (3, ["B"]), (2, ["C"])])
    result = run(terms("ranked", ["A", "B", "C"]), votes)
    assert result.rounds is not None
    assert [r.exhausted for r in result.rounds] == [0, 2]
    assert result.winner == "A"


def test_x_first_round_majority_needs_no_elimination() -> None:
    votes = profile([(3, ["X"]), (1, ["Y", "X"]), (1, ["Z", "X"])])
    result = run(terms("ranked", ["X", "Y", "Z"]), votes)
    assert result.rounds is not None
    assert len(result.rounds) == 1
    assert result.winner == "X"


# --------------------------------------------------------------------------------- other methods


def simple(choices: list[Any], start: int = 0) -> list[Vote]:
    """Votes of voters start, start+1, … each with one choice (a str, or a Choice)."""
    out = []
    for n, c in enumerate(choices):
        choice = c if isinstance(c, Choice) else Choice(choice=c)
        out.append(Vote(voter=voter(start + n), choice=choice, created=OPENED))
    return out


def test_majority_counts_and_abstention() -> None:
    votes = simple(["yes", "yes", "yes", "no", "no", Choice(abstain=True)])
    result = run(terms("majority", ["yes", "no"], quorum={"num": 1, "den": 2}), votes)
    assert dict(result.counts) == {"yes": 3, "no": 2}
    assert (result.voters, result.abstained, result.winner) == (6, 1, "yes")
    assert result.quorum_met
    assert result.adopted
    assert result.rounds is None


def test_majority_needs_more_than_half() -> None:
    result = run(terms("majority", ["yes", "no"]), simple(["yes", "yes", "no", "no"]))
    assert result.winner is None
    assert not result.adopted
    three = run(terms("majority", ["a", "b", "c"]), simple(["a", "a", "b", "c"]))
    assert three.winner is None  # 2 of 4 is not more than half
    won = run(terms("majority", ["a", "b", "c"]), simple(["a", "a", "a", "b", "c"]))
    assert won.winner == "a"


def test_no_is_a_winner_but_not_an_adoption() -> None:
    result = run(terms("majority", ["yes", "no"]), simple(["no", "no", "yes"]))
    assert result.winner == "no"
    assert not result.adopted


@pytest.mark.parametrize(
    ("yes", "no", "wins"),
    [(4, 2, True), (3, 2, False), (2, 1, True), (6, 4, False), (8, 4, True)],
    ids=["4-2 is exactly 2/3", "3-2 is 60%", "2-1", "6-4", "8-4"],
)
def test_supermajority_two_thirds(yes: int, no: int, wins: bool) -> None:
    t = terms("supermajority", ["yes", "no"], threshold={"num": 2, "den": 3})
    result = run(t, simple(["yes"] * yes + ["no"] * no))
    assert (result.winner == "yes") is wins
    assert result.adopted is wins


def test_consent_passes_unless_blocked_and_counts_blocks() -> None:
    options = ["consent", "stand_aside", "block"]
    passed = run(terms("consent", options), simple(["consent", "consent", "stand_aside"]))
    assert dict(passed.counts) == {"consent": 2, "stand_aside": 1, "block": 0}
    assert passed.winner == "consent"
    assert passed.adopted
    blocked = run(terms("consent", options), simple(["consent"] * 9 + ["block"]))
    assert dict(blocked.counts) == {"consent": 9, "stand_aside": 0, "block": 1}
    assert blocked.winner == "block"
    assert not blocked.adopted


def test_approval() -> None:
    votes = simple(
        [
            Choice(approve=("a", "b")),
            Choice(approve=("b",)),
            Choice(approve=("b", "c")),
            Choice(approve=()),
        ]
    )
    result = run(terms("approval", ["a", "b", "c"]), votes)
    assert dict(result.counts) == {"a": 1, "b": 3, "c": 1}
    assert result.winner == "b"
    assert result.voters == 4
    tie = run(
        terms("approval", ["a", "b", "c"]),
        simple([Choice(approve=("a", "b")), Choice(approve=("a", "b", "c"))]),
    )
    assert tie.winner is None
    assert tie.tied == ("a", "b")


def test_score() -> None:
    t = terms("score", ["a", "b", "c"], max_score=5)
    votes = simple(
        [
            Choice(scores={"a": 5, "b": 3, "c": 0}),
            Choice(scores={"a": 0, "b": 4, "c": 5}),
            Choice(scores={"a": 2, "b": 2, "c": 2}),
        ]
    )
    result = run(t, votes)
    assert dict(result.counts) == {"a": 7, "b": 9, "c": 7}
    assert result.winner == "b"
    # A score above max_score, or one that misses an option, is never counted.
    bad = simple([Choice(scores={"a": 6, "b": 0, "c": 0}), Choice(scores={"a": 5})], start=10)
    assert dict(run(t, votes + bad).counts) == {"a": 7, "b": 9, "c": 7}


# ----------------------------------------------------------------------- quorum, window, validity


@pytest.mark.parametrize(("voting", "met"), [(4, False), (5, True), (10, True), (0, False)])
def test_quorum_is_a_share_of_the_electorate(voting: int, met: bool) -> None:
    electorate = [voter(n) for n in range(10)]
    votes = simple([Choice(abstain=True)] * voting)
    t = terms("majority", ["yes", "no"], quorum={"num": 1, "den": 2})
    result = run(t, votes, electorate=electorate)
    assert result.electorate == 10
    assert result.voters == voting
    assert result.quorum_met is met


def test_window_and_finality() -> None:
    t = terms("majority", ["yes", "no"])
    before = Vote(
        voter=voter(1), choice=Choice(choice="no"), created=t.opens_at - timedelta(seconds=1)
    )
    at_close = Vote(voter=voter(2), choice=Choice(choice="no"), created=t.closes_at)
    inside = Vote(
        voter=voter(3), choice=Choice(choice="yes"), created=t.closes_at - timedelta(microseconds=1)
    )
    electorate = [voter(1), voter(2), voter(3)]
    live = tally(
        t, [before, at_close, inside], proposal_id=PID, electorate=electorate,
        now=t.closes_at - timedelta(hours=1),
    )  # fmt: skip
    assert not live.final
    assert dict(live.counts) == {"yes": 1, "no": 0}
    final = tally(
        t, [before, at_close, inside], proposal_id=PID, electorate=electorate, now=t.closes_at
    )
    assert final.final


def test_last_valid_ballot_counts_and_invalid_ones_never_do() -> None:
    t = terms("majority", ["yes", "no"])
    created = t.opens_at
    votes = [
        Vote(voter=voter(1), choice=Choice(choice="no"), created=created),
        Vote(voter=voter(1), choice=Choice(choice="yes"), created=created),
        # Unknown option, then the wrong form for the method: neither replaces "yes".
        Vote(voter=voter(1), choice=Choice(choice="maybe"), created=created),
        Vote(voter=voter(1), choice=Choice(ranking=("no",)), created=created),
        # Not in the electorate.
        Vote(voter=voter(99), choice=Choice(choice="no"), created=created),
    ]
    result = run(t, votes, electorate=[voter(1), voter(2)])
    assert dict(result.counts) == {"yes": 1, "no": 0}
    assert (result.direct, result.voters, result.electorate) == (1, 1, 2)


# ------------------------------------------------------------------------------------ delegation


def test_delegation_follows_chains_direct_ballots_override_cycles_void() -> None:
    t = terms("majority", ["yes", "no"], delegation="budget")
    v = [voter(n) for n in range(8)]
    votes = [
        Vote(voter=v[0], choice=Choice(choice="yes"), created=t.opens_at),
        Vote(voter=v[3], choice=Choice(choice="no"), created=t.opens_at),
    ]
    delegations = {
        v[1]: v[0],  # 1 -> 0 (voted yes): yes
        v[2]: v[1],  # 2 -> 1 -> 0: yes
        v[3]: v[0],  # 3 voted directly: the direct ballot overrides
        v[4]: v[5],  # 4 -> 5 -> 4: a cycle, no vote for either
        v[5]: v[4],
        v[6]: voter(50),  # a delegate outside the electorate: no vote
        v[7]: v[4],  # leads into the cycle: no vote
    }
    result = run(t, votes, electorate=v, delegations=delegations)
    assert dict(result.counts) == {"yes": 3, "no": 1}
    assert (result.direct, result.delegated, result.voters) == (2, 2, 4)


def test_delegation_is_ignored_when_the_proposal_allows_none() -> None:
    t = terms("majority", ["yes", "no"])
    votes = [Vote(voter=voter(0), choice=Choice(choice="yes"), created=t.opens_at)]
    result = run(t, votes, electorate=[voter(0), voter(1)], delegations={voter(1): voter(0)})
    assert (result.voters, result.delegated) == (1, 0)


def test_a_delegated_abstention_counts_towards_quorum() -> None:
    t = terms("majority", ["yes", "no"], delegation="t", quorum={"num": 1, "den": 1})
    votes = [Vote(voter=voter(0), choice=Choice(abstain=True), created=t.opens_at)]
    result = run(t, votes, electorate=[voter(0), voter(1)], delegations={voter(1): voter(0)})
    assert (result.voters, result.abstained, result.quorum_met) == (2, 2, True)
    assert result.winner is None


def test_tally_round_trips_through_its_json_form() -> None:
    votes = profile([(4, ["A", "B"]), (3, ["B"]), (2, ["C", "A"])])
    result = run(terms("ranked", ["A", "B", "C"]), votes)
    assert Tally.from_dict(result.to_dict()) == result
