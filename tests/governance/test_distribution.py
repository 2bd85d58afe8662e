"""The value-sharing policy and the exact split (governance/distribution.py, specs/07 §3-§4).

Expected amounts are worked by hand in the comments, or come from a
brute-force reference that searches every way to split a small total.
"""

from __future__ import annotations

import hashlib
import itertools
import random
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from governance.distribution import (
    BP_TOTAL,
    Designer,
    DistributionInputError,
    NamedShare,
    Policy,
    derivation_generations,
    distribute,
    largest_remainder,
)
from protocol.did import Did
from protocol.errors import InvalidRecord
from protocol.keys import AgentKey
from protocol.records import RecordId


def did(name: str) -> Did:
    return AgentKey.from_seed(hashlib.sha256(name.encode()).digest()).did


def rid(char: str) -> RecordId:
    return RecordId("sha256:" + char * 64)


WORKSHOP = did("coop C")
FUND = did("commons fund")
ALICE, BOB, CAROL, DAN = did("alice"), did("bob"), did("carol"), did("dan")


def policy(**overrides: Any) -> Policy:
    fields: dict[str, Any] = {
        "version": 1,
        "workshop_bp": 7000,
        "designers_bp": 2000,
        "decay_bp": 5000,
        "max_generations": 3,
        "commons_bp": 1000,
        "commons_fund": FUND,
        "named": (),
        "currencies": ("EUR",),
    }
    fields.update(overrides)
    return Policy(**fields)


def chain(*generations: list[tuple[str, Did]]) -> list[Designer]:
    return [
        Designer(generation=g, design=rid(char), log=did("log " + char), agent=agent)
        for g, designs in enumerate(generations)
        for char, agent in designs
    ]


def amounts(parts: Any) -> list[tuple[str, int | None, str, int]]:
    return [(p.reason, p.generation, p.agent, p.amount) for p in parts]


# -- hand-worked splits -------------------------------------------------------------------------


def test_two_generations_hand_worked() -> None:
    # Weights decay^g: generation 0 weighs 1, generation 1 weighs 1/2, so of the
    # designers' 20 %, generation 0 gets 2/3 and generation 1 gets 1/3.
    # Quotas of 10001: workshop 7000.7, gen0 10001*2/15 = 1333.466…,
    # gen1 10001/15 = 666.733…, commons 1000.1. Floors sum to 9999; the two
    # units left go to the largest remainders .733 (gen1) and .7 (workshop).
    parts = distribute(
        policy(), 10001, workshop=WORKSHOP, designers=chain([("a", ALICE)], [("b", BOB)])
    )
    assert amounts(parts) == [
        ("workshop", None, WORKSHOP, 7001),
        ("designer", 0, ALICE, 1333),
        ("designer", 1, BOB, 667),
        ("commons", None, FUND, 1000),
    ]
    assert all(p.policy_version == 1 for p in parts)
    assert parts[1].design == rid("a")


def test_three_generations_two_parents() -> None:
    # decay 5000, three generations: weights 1, 1/2, 1/4 → 4/7, 2/7, 1/7 of 30 %.
    # Total 7000: workshop 60 % = 4200; designers 2100 → gen0 1200, gen1 600
    # (two designs: 300 each), gen2 300; commons 10 % = 700. All exact.
    p = policy(workshop_bp=6000, designers_bp=3000, commons_bp=1000)
    designers = chain([("a", ALICE)], [("c", CAROL), ("b", BOB)], [("d", DAN)])
    parts = distribute(p, 7000, workshop=WORKSHOP, designers=designers)
    assert amounts(parts) == [
        ("workshop", None, WORKSHOP, 4200),
        ("designer", 0, ALICE, 1200),
        ("designer", 1, BOB, 300),  # design "b…" sorts before "c…"
        ("designer", 1, CAROL, 300),
        ("designer", 2, DAN, 300),
        ("commons", None, FUND, 700),
    ]


def test_ties_go_to_the_earlier_part() -> None:
    # Quotas 0.5 and 0.5 of one cent: the workshop comes first in canonical order.
    p = policy(workshop_bp=5000, designers_bp=0, commons_bp=5000)
    parts = distribute(p, 1, workshop=WORKSHOP, designers=chain([("a", ALICE)]))
    assert amounts(parts) == [("workshop", None, WORKSHOP, 1), ("commons", None, FUND, 0)]


def test_named_agents_and_zero_shares_left_out() -> None:
    # 99 cents: workshop 50 % = 49.5, named 25 % = 24.75, commons 25 % = 24.75.
    # Floors 49+24+24 = 97; two units: workshop (.5) … then .75, .75 beat .5:
    # the two .75 remainders (named, commons) get them → 49, 25, 25.
    p = policy(
        workshop_bp=5000,
        designers_bp=0,
        commons_bp=2500,
        named=(NamedShare(agent=CAROL, bp=2500, label="federation dues"),),
    )
    parts = distribute(p, 99, workshop=WORKSHOP, designers=chain([("a", ALICE)]))
    assert amounts(parts) == [
        ("workshop", None, WORKSHOP, 49),
        ("commons", None, FUND, 25),
        ("named", None, CAROL, 25),
    ]
    assert parts[2].label == "federation dues"


def test_no_decay_gives_everything_to_the_design_itself() -> None:
    p = policy(decay_bp=0)
    parts = distribute(p, 1000, workshop=WORKSHOP, designers=chain([("a", ALICE)], [("b", BOB)]))
    # decay 0: generation 1 weighs 0 and is left out.
    assert amounts(parts) == [
        ("workshop", None, WORKSHOP, 700),
        ("designer", 0, ALICE, 200),
        ("commons", None, FUND, 100),
    ]


def test_equal_split_with_full_decay_ratio() -> None:
    # decay 10000: every generation weighs the same.
    p = policy(decay_bp=BP_TOTAL, max_generations=2)
    parts = distribute(p, 100, workshop=WORKSHOP, designers=chain([("a", ALICE)], [("b", BOB)]))
    assert [p.amount for p in parts] == [70, 10, 10, 10]


@pytest.mark.parametrize(
    ("designers", "message"),
    [
        ([], "generation 0"),
        (chain([("a", ALICE), ("b", BOB)]), "exactly the job's design"),
        (chain([("a", ALICE)], [], [("c", CAROL)]), "empty"),
        (chain([("a", ALICE)], [("b", BOB)], [("c", CAROL)], [("d", DAN)]), "beyond"),
        (
            [
                Designer(generation=0, design=rid("a"), log=ALICE, agent=ALICE),
                Designer(generation=1, design=rid("a"), log=ALICE, agent=ALICE),
            ],
            "twice",
        ),
    ],
    ids=["empty", "two-roots", "gap", "too-deep", "repeated"],
)
def test_bad_chains_are_refused(designers: list[Designer], message: str) -> None:
    with pytest.raises(DistributionInputError, match=message):
        distribute(policy(), 100, workshop=WORKSHOP, designers=designers)


@pytest.mark.parametrize("total", [-1, 2**53], ids=["negative", "too-large"])
def test_bad_totals_are_refused(total: int) -> None:
    with pytest.raises(DistributionInputError):
        distribute(policy(), total, workshop=WORKSHOP, designers=chain([("a", ALICE)]))


# -- the policy record --------------------------------------------------------------------------


def test_policy_round_trip() -> None:
    p = policy(named=(NamedShare(agent=CAROL, bp=500, label="x"),), commons_bp=500)
    assert Policy.from_dict(p.to_dict()) == p


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"workshop_bp": 7001}, "body"),
        ({"workshop_bp": True}, "body.workshop_bp"),
        ({"decay_bp": 10001}, "body.decay_bp"),
        ({"max_generations": 0}, "body.max_generations"),
        ({"max_generations": 17}, "body.max_generations"),
        ({"currencies": []}, "body.currencies"),
        ({"currencies": ["eur"]}, "body.currencies"),
        ({"currencies": ["EUR", "EUR"]}, "body.currencies"),
        ({"commons_fund": "did:key:nope"}, "body.commons_fund"),
        ({"named": [{"agent": ALICE, "bp": 0, "label": "x"}]}, "body.named[0].bp"),
        ({"surprise": 1}, "body.surprise"),
    ],
    ids=[
        "sum",
        "bool",
        "decay",
        "no-gen",
        "many-gen",
        "no-currency",
        "lowercase",
        "dup-currency",
        "bad-did",
        "zero-named",
        "unknown",
    ],
)
def test_bad_policies_are_refused(change: dict[str, Any], field: str) -> None:
    data = {**policy().to_dict(), **change}
    with pytest.raises(InvalidRecord) as caught:
        Policy.from_dict(data)
    assert caught.value.field == field


# -- the derivation chain -----------------------------------------------------------------------


def test_generations_follow_shortest_distance_and_cut() -> None:
    # a derives from b and c; b from d; c from d and e; e is unknown.
    graph = {
        rid("a"): (ALICE, [rid("b"), rid("c")]),
        rid("b"): (BOB, [rid("d")]),
        rid("c"): (CAROL, [rid("d"), rid("e")]),
        rid("d"): (DAN, [rid("f")]),
        rid("f"): (ALICE, []),
    }

    def lookup(design: RecordId) -> tuple[Did, Did, list[RecordId]] | None:
        known = graph.get(design)
        return None if known is None else (did("log"), known[0], known[1])

    designers, missing = derivation_generations(rid("a"), lookup, max_generations=3)
    assert [(d.generation, d.design, d.agent) for d in designers] == [
        (0, rid("a"), ALICE),
        (1, rid("b"), BOB),
        (1, rid("c"), CAROL),
        (2, rid("d"), DAN),  # once, though both b and c derive from it
    ]
    assert missing == (rid("e"),)
    with pytest.raises(DistributionInputError):
        derivation_generations(rid("z"), lookup, max_generations=3)


# -- largest remainder against brute force ------------------------------------------------------


def brute_force(total: int, shares: list[Fraction]) -> list[int]:
    """Every split of `total` into len(shares) parts; the one nearest the quotas (L1),
    ties broken towards giving units to earlier parts (lexicographically largest)."""
    quotas = [total * s for s in shares]
    best: tuple[Fraction, list[int]] | None = None
    for cuts in itertools.combinations_with_replacement(range(total + 1), len(shares) - 1):
        bounds = [0, *cuts, total]
        split = [bounds[i + 1] - bounds[i] for i in range(len(shares))]
        distance = sum((abs(a - q) for a, q in zip(split, quotas, strict=True)), Fraction(0))
        if best is None or distance < best[0] or (distance == best[0] and split > best[1]):
            best = (distance, split)
    assert best is not None
    return best[1]


@st.composite
def small_shares(draw: st.DrawFn) -> list[Fraction]:
    count = draw(st.integers(min_value=1, max_value=5))
    weights = draw(st.lists(st.integers(0, 12), min_size=count, max_size=count))
    if sum(weights) == 0:
        weights[0] = 1
    return [Fraction(w, sum(weights)) for w in weights]


@settings(max_examples=300, deadline=None)
@given(total=st.integers(min_value=0, max_value=14), shares=small_shares())
def test_largest_remainder_matches_brute_force(total: int, shares: list[Fraction]) -> None:
    assert largest_remainder(total, shares) == brute_force(total, shares)


# -- properties over any policy and amount ------------------------------------------------------


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    named_count = draw(st.integers(0, 3))
    cuts = sorted(
        draw(
            st.lists(
                st.integers(0, BP_TOTAL), min_size=3 + named_count - 1, max_size=3 + named_count - 1
            )
        )
    )
    bounds = [0, *cuts, BP_TOTAL]
    bps = [bounds[i + 1] - bounds[i] for i in range(len(bounds) - 1)]
    named_bps = bps[3:]
    named = tuple(
        NamedShare(agent=did(f"named {i}"), bp=bp, label=f"n{i}")
        for i, bp in enumerate(named_bps)
        if bp > 0
    )
    return Policy(
        version=draw(st.integers(1, 1000)),
        workshop_bp=bps[0],
        designers_bp=bps[1],
        decay_bp=draw(st.integers(0, BP_TOTAL)),
        max_generations=draw(st.integers(1, 6)),
        commons_bp=bps[2] + sum(bp for bp in named_bps if bp == 0),
        commons_fund=FUND,
        named=named,
        currencies=("EUR",),
    )


@st.composite
def chains(draw: st.DrawFn, max_generations: int) -> list[Designer]:
    depth = draw(st.integers(1, max_generations))
    designers = [Designer(generation=0, design=rid("0"), log=ALICE, agent=ALICE)]
    counter = 1
    for g in range(1, depth):
        for _ in range(draw(st.integers(1, 3))):
            designers.append(
                Designer(
                    generation=g,
                    design=RecordId("sha256:" + f"{counter:064x}"),
                    log=BOB,
                    agent=did(f"designer {counter % 4}"),
                )
            )
            counter += 1
    return designers


@settings(max_examples=400, deadline=None)
@given(data=st.data(), total=st.integers(min_value=0, max_value=2**53 - 1))
def test_every_split_sums_exactly_and_stays_near_its_quota(data: st.DataObject, total: int) -> None:
    p = data.draw(policies())
    designers = data.draw(chains(p.max_generations))
    parts = distribute(p, total, workshop=WORKSHOP, designers=designers)
    assert sum(part.amount for part in parts) == total
    assert all(part.amount >= 0 and part.policy_version == p.version for part in parts)
    # The fixed shares, recomputed here: each part is within one unit of its quota.
    fixed = {"workshop": p.workshop_bp, "commons": p.commons_bp}
    for part in parts:
        if part.reason in fixed:
            assert abs(part.amount - Fraction(total * fixed[part.reason], BP_TOTAL)) < 1
    designer_total = sum(part.amount for part in parts if part.reason == "designer")
    assert abs(designer_total - Fraction(total * p.designers_bp, BP_TOTAL)) < len(designers) + 1


@settings(max_examples=200, deadline=None)
@given(data=st.data(), total=st.integers(min_value=0, max_value=10**9), seed=st.integers())
def test_split_does_not_depend_on_the_order_of_the_chain(
    data: st.DataObject, total: int, seed: int
) -> None:
    p = data.draw(policies())
    designers = data.draw(chains(p.max_generations))
    shuffled = list(designers)
    random.Random(seed).shuffle(shuffled)
    assert distribute(p, total, workshop=WORKSHOP, designers=designers) == distribute(
        p, total, workshop=WORKSHOP, designers=shuffled
    )
