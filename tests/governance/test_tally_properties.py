"""Properties of governance/tally.py (issue 7's acceptance), checked with hypothesis.

- permuting the ballots (keeping each voter's own order) never changes the result;
- a member's last valid ballot is the one counted;
- ballots of non-members never count;
- in ranked choice, the first-round counts sum to the number of valid ballots,
  and every round's counts plus its exhausted ballots sum to it too;
- a direct ballot always overrides a delegation.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from governance.tally import Vote, tally
from governance.terms import CONSENT_OPTIONS, Choice, Terms
from protocol.did import Did
from protocol.records import parse_time

PID = "sha256:" + "7" * 64
OPENS = "2025-06-01T10:00:00Z"
CLOSES = "2025-06-08T10:00:00Z"
OPENED = parse_time(OPENS)
CLOSED = parse_time(CLOSES)
METHODS = ["majority", "supermajority", "consent", "approval", "ranked", "score"]
FORMS = {"majority": "choice", "supermajority": "choice", "consent": "choice",
         "approval": "approve", "ranked": "ranking", "score": "scores"}  # fmt: skip


@st.composite
def terms_strategy(draw: st.DrawFn, method: str | None = None) -> Terms:
    method = method or draw(st.sampled_from(METHODS))
    if method == "consent":
        options = list(CONSENT_OPTIONS)
    else:
        options = [f"o{i}" for i in range(draw(st.integers(2, 6)))]
    data: dict[str, Any] = {
        "options": options,
        "method": method,
        "opens": OPENS,
        "closes": CLOSES,
        "quorum": {"num": draw(st.integers(0, 3)), "den": 3},
    }
    if method == "supermajority":
        data["threshold"] = draw(st.sampled_from([{"num": 2, "den": 3}, {"num": 3, "den": 4}]))
    if method == "score":
        data["max_score"] = draw(st.integers(1, 5))
    if draw(st.booleans()):
        data["delegation"] = "topic"
    return Terms.from_dict(data)


def choices(terms: Terms) -> st.SearchStrategy[Choice]:
    """Valid and invalid choices for these terms (unknown options, wrong forms, bad scores)."""
    names = [*terms.options, "stranger"]
    some = st.lists(st.sampled_from(names), unique=True, max_size=len(names))
    return st.one_of(
        st.just(Choice(abstain=True)),
        st.sampled_from(names).map(lambda c: Choice(choice=c)),
        some.map(lambda a: Choice(approve=tuple(a))),
        some.filter(bool).map(lambda r: Choice(ranking=tuple(r))),
        st.fixed_dictionaries({o: st.integers(0, 6) for o in terms.options}).map(
            lambda s: Choice(scores=s)
        ),
    )


def voter(n: int) -> Did:
    return Did(f"did:test:{n:03d}")


@st.composite
def election(draw: st.DrawFn, method: str | None = None) -> tuple[Terms, list[Vote], list[Did]]:
    terms = draw(terms_strategy(method))
    size = draw(st.integers(1, 12))
    electorate = [voter(n) for n in range(size)]
    count = draw(st.integers(0, 30))
    votes = []
    for _ in range(count):
        who = voter(draw(st.integers(0, size - 1)))
        when = OPENED + timedelta(seconds=draw(st.integers(-5, 7 * 86400 + 5)))
        votes.append(Vote(voter=who, choice=draw(choices(terms)), created=when))
    return terms, votes, electorate


def run(terms: Terms, votes: list[Vote], electorate: list[Did], **kw: Any) -> dict[str, Any]:
    return tally(terms, votes, proposal_id=PID, electorate=electorate, now=CLOSED, **kw).to_dict()


def _valid(terms: Terms, vote: Vote) -> bool:
    """Validity written out again from specs/06-governance.md §4.2 and §5.1, for the checks."""
    if not OPENED <= vote.created < CLOSED:
        return False
    c = vote.choice
    known = set(terms.options)
    if c.abstain:
        return True
    form = FORMS[terms.method]
    if form == "choice":
        return c.choice is not None and c.choice in known
    if form == "approve":
        return c.approve is not None and set(c.approve) <= known
    if form == "ranking":
        return c.ranking is not None and set(c.ranking) <= known
    assert terms.max_score is not None
    return (
        c.scores is not None
        and set(c.scores) == known
        and all(s <= terms.max_score for s in c.scores.values())
    )


@settings(max_examples=100, deadline=None)
@given(case=election(), data=st.data())
def test_permuting_ballots_never_changes_the_result(
    case: tuple[Terms, list[Vote], list[Did]], data: st.DataObject
) -> None:
    terms, votes, electorate = case
    order = data.draw(st.permutations(range(len(votes))))
    shuffled = [votes[i] for i in order]
    # Keep each voter's own ballots in their order: only their relative order means anything.
    per_voter: dict[Did, list[Vote]] = {}
    for v in votes:
        per_voter.setdefault(v.voter, []).append(v)
    cursor = dict.fromkeys(per_voter, 0)
    interleaved = []
    for v in shuffled:
        interleaved.append(per_voter[v.voter][cursor[v.voter]])
        cursor[v.voter] += 1
    members = data.draw(st.permutations(electorate))
    assert run(terms, interleaved, list(members)) == run(terms, votes, electorate)


@settings(max_examples=100, deadline=None)
@given(case=election())
def test_the_last_valid_ballot_of_a_member_is_the_one_counted(
    case: tuple[Terms, list[Vote], list[Did]],
) -> None:
    terms, votes, electorate = case
    last: dict[Did, Vote] = {}
    for v in votes:
        if _valid(terms, v):
            last[v.voter] = v
    assert run(terms, list(last.values()), electorate) == run(terms, votes, electorate)
    result = run(terms, votes, electorate)
    assert result["direct"] == len(last)


@settings(max_examples=100, deadline=None)
@given(case=election(), data=st.data())
def test_ballots_of_non_members_never_count(
    case: tuple[Terms, list[Vote], list[Did]], data: st.DataObject
) -> None:
    terms, votes, electorate = case
    strangers = [
        Vote(voter=Did(f"did:stranger:{n}"), choice=data.draw(choices(terms)), created=OPENED)
        for n in range(data.draw(st.integers(1, 10)))
    ]
    mixed = list(votes)
    for s in strangers:
        mixed.insert(data.draw(st.integers(0, len(mixed))), s)
    assert run(terms, mixed, electorate) == run(terms, votes, electorate)


@settings(max_examples=100, deadline=None)
@given(case=election("ranked"))
def test_first_round_ranked_counts_sum_to_the_valid_ballots(
    case: tuple[Terms, list[Vote], list[Did]],
) -> None:
    terms, votes, electorate = case
    last: dict[Did, Vote] = {}
    for v in votes:
        if _valid(terms, v):
            last[v.voter] = v
    valid_ranked = sum(1 for v in last.values() if not v.choice.abstain)
    result = run(terms, votes, electorate)
    rounds = result["rounds"]
    assert sum(rounds[0]["counts"].values()) == valid_ranked
    assert rounds[0]["exhausted"] == 0
    for r in rounds:
        assert sum(r["counts"].values()) + r["exhausted"] == valid_ranked
    # Each round but the last removes one option, which is absent afterwards.
    for before, after in itertools.pairwise(rounds):
        assert set(after["counts"]) == set(before["counts"]) - {before["eliminated"]}
    if "winner" in result:
        final = rounds[-1]["counts"]
        assert final[result["winner"]] * 2 > sum(final.values())


@settings(max_examples=100, deadline=None)
@given(case=election(), data=st.data())
def test_a_direct_ballot_overrides_any_delegation(
    case: tuple[Terms, list[Vote], list[Did]], data: st.DataObject
) -> None:
    terms, votes, electorate = case
    voted = sorted({v.voter for v in votes if _valid(terms, v)})
    delegations = {
        who: data.draw(st.sampled_from(electorate)) for who in voted if len(electorate) > 1
    }
    delegations = {k: v for k, v in delegations.items() if k != v}
    assert run(terms, votes, electorate, delegations=delegations) == run(terms, votes, electorate)
