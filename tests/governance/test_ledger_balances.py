"""Balances: contributions net of corrections, money per agent (governance/balances.py, §6)."""

from __future__ import annotations

import random
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from governance.balances import (
    ContributionFact,
    contribution_totals,
    format_quantity,
    money_balances,
    resolve_corrections,
)
from protocol.did import Did
from protocol.records import RecordId

LOGS = (Did("did:key:log-a"), Did("did:key:log-b"))
PROVIDERS = (Did("did:key:alice"), Did("did:key:bob"), Did("did:key:carol"))


def rid(n: int) -> RecordId:
    return RecordId(f"sha256:{n:064x}")


def fact(n: int, **fields: object) -> ContributionFact:
    base: dict[str, object] = {
        "log": LOGS[0],
        "index": n,
        "id": rid(n),
        "provider": PROVIDERS[0],
        "action": "work",
        "effort": ("8", "hour"),
    }
    base.update(fields)
    return ContributionFact(**base)  # type: ignore[arg-type]


def test_hand_worked_corrections() -> None:
    facts = [
        fact(0, effort=("8", "hour")),
        fact(1, effort=("6.5", "hour"), corrects=rid(0)),  # 8 h was wrong: 6.5 h
        fact(2, effort=("2.25", "hour")),
        fact(3, effort=("0", "hour"), corrects=rid(2)),  # 2.25 h voided
        fact(4, effort=("1", "hour"), corrects=rid(0)),  # rid(0) is corrected already: void
        fact(5, provider=PROVIDERS[1], effort=("3", "hour"), corrects=rid(1)),  # not bob's
        fact(6, resource=("0.5", "kilogram"), effort=None, action="consume"),
    ]
    corrections = resolve_corrections(facts)
    assert corrections.corrected_by == {rid(0): rid(1), rid(2): rid(3)}
    assert set(corrections.void) == {rid(4), rid(5)}
    # 6.5 + 0 hours of work for alice; bob's void entry counts nothing.
    assert contribution_totals(facts) == {
        (PROVIDERS[0], "consume", "resource", "kilogram"): "0.5",
        (PROVIDERS[0], "work", "effort", "hour"): "6.5",
    }


def test_a_correction_of_a_correction_leaves_only_the_last() -> None:
    facts = [
        fact(0, effort=("8", "hour")),
        fact(1, effort=("6", "hour"), corrects=rid(0)),
        fact(2, effort=("7", "hour"), corrects=rid(1)),
    ]
    assert contribution_totals(facts) == {(PROVIDERS[0], "work", "effort", "hour"): "7"}


def test_a_correction_must_stay_in_its_log_and_come_later() -> None:
    facts = [
        fact(0, log=LOGS[1], index=0),
        fact(1, log=LOGS[0], index=0, corrects=rid(0)),  # other log
        fact(2, log=LOGS[0], index=1, corrects=rid(3)),  # later entry
        fact(3, log=LOGS[0], index=2),
    ]
    assert set(resolve_corrections(facts).void) == {rid(1), rid(2)}


def test_format_quantity() -> None:
    assert format_quantity(Decimal("1.500000")) == "1.5"
    assert format_quantity(Decimal("1E+3")) == "1000"
    assert format_quantity(Decimal("0.000")) == "0"


def test_money_balances() -> None:
    a, b = PROVIDERS[0], PROVIDERS[1]
    assert money_balances([(a, "EUR", 5), (b, "EUR", 7), (a, "EUR", 1), (a, "CHF", 2)]) == {
        (a, "CHF"): 2,
        (a, "EUR"): 6,
        (b, "EUR"): 7,
    }


# -- properties ---------------------------------------------------------------------------------

decimals = st.builds(
    lambda whole, frac, digits: f"{whole}" + (f".{frac:0{digits}d}" if digits else ""),
    st.integers(0, 10**6),
    st.integers(0, 999),
    st.sampled_from([0, 3]),
)
units = st.sampled_from(["hour", "kilogram", "one"])
measures = st.one_of(st.none(), st.tuples(decimals, units))


@st.composite
def plain_facts(draw: st.DrawFn, start: int = 0) -> list[ContributionFact]:
    count = draw(st.integers(0, 12))
    out = []
    for n in range(start, start + count):
        resource = draw(measures)
        effort = draw(measures) if resource is not None else draw(st.tuples(decimals, units))
        out.append(
            ContributionFact(
                log=draw(st.sampled_from(LOGS)),
                index=n,
                id=rid(n),
                provider=draw(st.sampled_from(PROVIDERS)),
                action=draw(st.sampled_from(["work", "use", "cite"])),
                resource=resource,
                effort=effort,
            )
        )
    return out


def reference_totals(facts: list[ContributionFact]) -> dict[tuple[str, str, str, str], Decimal]:
    """Totals of entries without corrections, summed directly."""
    out: dict[tuple[str, str, str, str], Decimal] = {}
    for f in facts:
        for kind, m in (("resource", f.resource), ("effort", f.effort)):
            if m is not None:
                key = (f.provider, f.action, kind, m[1])
                out[key] = out.get(key, Decimal(0)) + Decimal(m[0])
    return out


@settings(max_examples=200, deadline=None)
@given(facts=plain_facts())
def test_totals_are_exact_sums(facts: list[ContributionFact]) -> None:
    totals = contribution_totals(facts)
    assert {k: Decimal(v) for k, v in totals.items()} == reference_totals(facts)


@settings(max_examples=200, deadline=None)
@given(facts=plain_facts(), data=st.data(), seed=st.integers())
def test_totals_do_not_depend_on_arrival_order(
    facts: list[ContributionFact], data: st.DataObject, seed: int
) -> None:
    # Add corrections (some valid, some void) so that order could matter.
    extra = []
    for n, target in enumerate(
        data.draw(st.lists(st.sampled_from(facts), max_size=4)) if facts else []
    ):
        extra.append(
            ContributionFact(
                log=target.log,
                index=100 + n,
                id=rid(100 + n),
                provider=target.provider,
                action=target.action,
                effort=data.draw(st.tuples(decimals, units)),
                corrects=target.id,
            )
        )
    everything = facts + extra
    shuffled = list(everything)
    random.Random(seed).shuffle(shuffled)
    assert contribution_totals(shuffled) == contribution_totals(everything)
    assert resolve_corrections(shuffled) == resolve_corrections(everything)


@settings(max_examples=200, deadline=None)
@given(facts=plain_facts(), data=st.data())
def test_a_correction_reverses_exactly_what_it_corrects(
    facts: list[ContributionFact], data: st.DataObject
) -> None:
    if not facts:
        return
    target = data.draw(st.sampled_from(facts))
    own = data.draw(st.tuples(decimals, units))
    correction = ContributionFact(
        log=target.log,
        index=1000,
        id=rid(1000),
        provider=target.provider,
        action=data.draw(st.sampled_from(["work", "use"])),
        effort=own,
        corrects=target.id,
    )
    # The same entry standing alone, without `corrects`.
    standalone = ContributionFact(
        log=correction.log,
        index=correction.index,
        id=correction.id,
        provider=correction.provider,
        action=correction.action,
        effort=own,
    )
    without_target = [f for f in facts if f.id != target.id]
    assert contribution_totals([*facts, correction]) == contribution_totals(
        [*without_target, standalone]
    )
