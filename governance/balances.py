"""Balances of the ledger: contributions net of corrections, and shared money per agent.

specs/07-ledger.md §6. A correction never edits: it reverses exactly the
quantities of the entry it corrects and adds its own. Every result here is
a function of the set of entries (each known by its log and index), never
of the order they arrived in. Pure: no storage, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext

from protocol.did import Did
from protocol.records import RecordId

__all__ = [
    "ContributionFact",
    "Corrections",
    "contribution_totals",
    "format_quantity",
    "money_balances",
    "resolve_corrections",
]

# Enough digits for any sum of 2^53 values of 15 integer and 6 fractional digits.
_PRECISION = 60


@dataclass(frozen=True, slots=True, kw_only=True)
class ContributionFact:
    """What balances need of one verified ledger.contribution."""

    log: Did
    index: int
    id: RecordId
    provider: Did
    action: str
    resource: tuple[str, str] | None = None  # (decimal value, unit)
    effort: tuple[str, str] | None = None
    corrects: RecordId | None = None


@dataclass(frozen=True, slots=True)
class Corrections:
    """Which entries a valid correction reversed, and which corrections are void (and why)."""

    corrected_by: dict[RecordId, RecordId]
    void: dict[RecordId, str]


def resolve_corrections(facts: Iterable[ContributionFact]) -> Corrections:
    """Decide every correction (specs/07-ledger.md §6.1).

    A correction is valid when it names an earlier, non-void contribution of
    the same log by the same provider that no earlier correction reversed;
    otherwise it is void and counts for nothing.
    """
    by_id: dict[RecordId, ContributionFact] = {}
    ordered = sorted(facts, key=lambda f: (f.log, f.index))
    for fact in ordered:
        by_id.setdefault(fact.id, fact)
    corrected_by: dict[RecordId, RecordId] = {}
    void: dict[RecordId, str] = {}
    for fact in ordered:
        if fact.corrects is None:
            continue
        target = by_id.get(fact.corrects)
        if target is None or target.log != fact.log or target.index >= fact.index:
            void[fact.id] = "corrects no earlier contribution of its log"
        elif target.provider != fact.provider:
            void[fact.id] = "corrects another provider's contribution"
        elif target.id in void:
            void[fact.id] = "corrects a void correction"
        elif target.id in corrected_by:
            void[fact.id] = f"{target.id} was corrected already by {corrected_by[target.id]}"
        else:
            corrected_by[target.id] = fact.id
    return Corrections(corrected_by, void)


def format_quantity(value: Decimal) -> str:
    """A decimal as a plain string, without exponent or trailing fractional zeros."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def contribution_totals(
    facts: Iterable[ContributionFact],
) -> dict[tuple[Did, str, str, str], str]:
    """Net quantities per (provider, action, "resource" | "effort", unit) as decimal strings.

    The entries a valid correction reversed and void corrections count
    nothing; everything else counts its own quantities. The sum is exact.
    """
    facts = list(facts)
    corrections = resolve_corrections(facts)
    totals: dict[tuple[Did, str, str, str], Decimal] = {}
    seen: set[RecordId] = set()
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        for fact in facts:
            if fact.id in seen:
                continue
            seen.add(fact.id)
            if fact.id in corrections.corrected_by or fact.id in corrections.void:
                continue
            for kind, measure in (("resource", fact.resource), ("effort", fact.effort)):
                if measure is None:
                    continue
                key = (fact.provider, fact.action, kind, measure[1])
                totals[key] = totals.get(key, Decimal(0)) + Decimal(measure[0])
    return {key: format_quantity(value) for key, value in sorted(totals.items())}


def money_balances(parts: Sequence[tuple[Did, str, int]]) -> dict[tuple[Did, str], int]:
    """Sum distribution parts (agent, currency, amount) per agent and currency."""
    out: dict[tuple[Did, str], int] = {}
    for agent, currency, amount in parts:
        out[(agent, currency)] = out.get((agent, currency), 0) + amount
    return dict(sorted(out.items()))
