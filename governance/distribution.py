"""The value-sharing policy and the exact split of a completed job's payment.

specs/07-ledger.md §3 defines the policy and §4 the split: every part's
exact share is a rational number, the parts are rounded by the largest
remainder method with ties going to the earlier part in canonical order,
so the parts always sum exactly to the total. Everything here is pure
integer and `fractions.Fraction` arithmetic; nothing here knows about
logs, records or signatures (governance/ledger.py does).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Self

from protocol.canonical import MAX_SAFE_INTEGER
from protocol.did import Did
from protocol.errors import InvalidRecord
from protocol.fields import check_keys, did_field, int_field, str_field
from protocol.records import RecordId, is_record_id

__all__ = [
    "BP_TOTAL",
    "MAX_GENERATIONS",
    "MAX_NAMED",
    "REASONS",
    "Designer",
    "DistributionInputError",
    "NamedShare",
    "Part",
    "Policy",
    "derivation_generations",
    "distribute",
    "largest_remainder",
]

BP_TOTAL = 10_000
MAX_GENERATIONS = 16
MAX_NAMED = 16
MAX_CURRENCIES = 16
# specs/07-ledger.md §4.4: a chain is cut at this many designs whatever the policy says.
MAX_DESIGNERS = 64
REASONS = ("workshop", "designer", "commons", "named")
_CURRENCY_RE = re.compile(r"[A-Z]{3}")


class DistributionInputError(ValueError):
    """The inputs of a split (designers, total) are not what the policy can share."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NamedShare:
    """A share of the policy that goes to one named agent (a fund, a federation, a person)."""

    agent: Did
    bp: int
    label: str

    @classmethod
    def from_dict(cls, data: Any, index: int) -> Self:
        where = f"named[{index}]"
        if not isinstance(data, Mapping):
            raise InvalidRecord(f"body.{where}", "must be an object")
        try:
            check_keys(data, ("agent", "bp", "label"))
            return cls(
                agent=did_field(data, "agent"),
                bp=int_field(data, "bp", minimum=1, maximum=BP_TOTAL),
                label=str_field(data, "label", max_len=200),
            )
        except InvalidRecord as exc:
            raise InvalidRecord(
                exc.field.replace("body.", f"body.{where}.", 1), exc.reason
            ) from exc

    def to_dict(self) -> dict[str, Any]:
        return {"agent": self.agent, "bp": self.bp, "label": self.label}


POLICY_KEYS = (
    "version",
    "workshop_bp",
    "designers_bp",
    "decay_bp",
    "max_generations",
    "commons_bp",
    "commons_fund",
    "named",
    "currencies",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """A value-sharing policy (specs/07-ledger.md §3); shares are basis points of the total."""

    version: int
    workshop_bp: int
    designers_bp: int
    decay_bp: int
    max_generations: int
    commons_bp: int
    commons_fund: Did
    named: tuple[NamedShare, ...] = ()
    currencies: tuple[str, ...]

    def __post_init__(self) -> None:
        total = self.workshop_bp + self.designers_bp + self.commons_bp
        total += sum(share.bp for share in self.named)
        if total != BP_TOTAL:
            raise InvalidRecord("body", f"shares must sum to {BP_TOTAL} basis points, not {total}")
        agents = [share.agent for share in self.named]
        if len(set(agents)) != len(agents):
            raise InvalidRecord("body.named", "names an agent twice")
        if len(set(self.currencies)) != len(self.currencies):
            raise InvalidRecord("body.currencies", "lists a currency twice")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Validate a policy object (without "decision"). Raises InvalidRecord."""
        check_keys(data, POLICY_KEYS)
        named = data["named"]
        if not isinstance(named, list) or len(named) > MAX_NAMED:
            raise InvalidRecord("body.named", f"must be a list of at most {MAX_NAMED} shares")
        currencies = data["currencies"]
        if (
            not isinstance(currencies, list)
            or not 1 <= len(currencies) <= MAX_CURRENCIES
            or not all(isinstance(c, str) and _CURRENCY_RE.fullmatch(c) for c in currencies)
        ):
            raise InvalidRecord(
                "body.currencies",
                f"must list 1 to {MAX_CURRENCIES} ISO 4217 codes (three capital letters)",
            )
        return cls(
            version=int_field(data, "version", minimum=1, maximum=MAX_SAFE_INTEGER),
            workshop_bp=int_field(data, "workshop_bp", minimum=0, maximum=BP_TOTAL),
            designers_bp=int_field(data, "designers_bp", minimum=0, maximum=BP_TOTAL),
            decay_bp=int_field(data, "decay_bp", minimum=0, maximum=BP_TOTAL),
            max_generations=int_field(data, "max_generations", minimum=1, maximum=MAX_GENERATIONS),
            commons_bp=int_field(data, "commons_bp", minimum=0, maximum=BP_TOTAL),
            commons_fund=did_field(data, "commons_fund"),
            named=tuple(NamedShare.from_dict(item, i) for i, item in enumerate(named)),
            currencies=tuple(currencies),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "workshop_bp": self.workshop_bp,
            "designers_bp": self.designers_bp,
            "decay_bp": self.decay_bp,
            "max_generations": self.max_generations,
            "commons_bp": self.commons_bp,
            "commons_fund": self.commons_fund,
            "named": [share.to_dict() for share in self.named],
            "currencies": list(self.currencies),
        }

    def accepts(self, currency: str) -> bool:
        """specs/07-ledger.md §3.3: only payments in a listed currency are shared."""
        return currency in self.currencies


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class Designer:
    """One design of the derivation chain: its generation (0 = the job's design) and author."""

    generation: int
    design: RecordId
    log: Did
    agent: Did

    @classmethod
    def from_dict(cls, data: Any, index: int) -> Self:
        where = f"designers[{index}]"
        if not isinstance(data, Mapping):
            raise InvalidRecord(f"body.{where}", "must be an object")
        try:
            check_keys(data, ("generation", "design", "log", "agent"))
            design = data["design"]
            if not is_record_id(design):
                raise InvalidRecord("body.design", "must be a record id")
            return cls(
                generation=int_field(data, "generation", minimum=0, maximum=MAX_GENERATIONS - 1),
                design=RecordId(design),
                log=did_field(data, "log"),
                agent=did_field(data, "agent"),
            )
        except InvalidRecord as exc:
            raise InvalidRecord(
                exc.field.replace("body.", f"body.{where}.", 1), exc.reason
            ) from exc

    def to_dict(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "design": self.design,
            "log": self.log,
            "agent": self.agent,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Part:
    """One agent's part of a distribution, with why it gets it."""

    agent: Did
    reason: str
    amount: int
    policy_version: int
    generation: int | None = None
    design: RecordId | None = None
    label: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "agent": self.agent,
            "reason": self.reason,
            "amount": self.amount,
            "policy_version": self.policy_version,
        }
        if self.generation is not None:
            out["generation"] = self.generation
        if self.design is not None:
            out["design"] = self.design
        if self.label is not None:
            out["label"] = self.label
        return out


def largest_remainder(total: int, shares: Sequence[Fraction]) -> list[int]:
    """Split `total` units in proportion to `shares` (which sum to 1), exactly.

    specs/07-ledger.md §4.2: each part gets the floor of its quota
    total × share; the units left over go one each to the parts with the
    largest fractional remainders, ties to the earlier part. Raises
    DistributionInputError if the shares do not sum to 1 or one is negative.
    """
    if total < 0:
        raise DistributionInputError("the total must not be negative")
    if any(share < 0 for share in shares) or sum(shares, Fraction(0)) != 1:
        raise DistributionInputError("the shares must be non-negative and sum to 1")
    quotas = [total * share for share in shares]
    amounts = [quota.numerator // quota.denominator for quota in quotas]
    left = total - sum(amounts)
    # Sort by remainder descending, then by position: the earlier part wins a tie.
    order = sorted(range(len(quotas)), key=lambda i: (-(quotas[i] - amounts[i]), i))
    for i in order[:left]:
        amounts[i] += 1
    return amounts


def _check_designers(policy: Policy, designers: Sequence[Designer]) -> list[list[Designer]]:
    """Designers grouped by generation, each group sorted by design id."""
    if not designers:
        raise DistributionInputError("the chain needs the job's design (generation 0)")
    if len(designers) > MAX_DESIGNERS:
        raise DistributionInputError(f"more than {MAX_DESIGNERS} designs in the chain")
    if len({d.design for d in designers}) != len(designers):
        raise DistributionInputError("a design appears twice in the chain")
    depth = max(d.generation for d in designers) + 1
    if depth > policy.max_generations:
        raise DistributionInputError(
            f"the chain goes beyond the policy's {policy.max_generations} generations"
        )
    groups: list[list[Designer]] = [[] for _ in range(depth)]
    for designer in designers:
        groups[designer.generation].append(designer)
    if len(groups[0]) != 1:
        raise DistributionInputError("generation 0 must be exactly the job's design")
    if any(not group for group in groups):
        raise DistributionInputError("a generation of the chain is empty")
    return [sorted(group, key=lambda d: d.design) for group in groups]


def _generation_weights(decay_bp: int, depth: int) -> list[int]:
    """specs/07-ledger.md §4.1: generation g weighs decay^g, scaled to integers."""
    return [decay_bp**g * BP_TOTAL ** (depth - 1 - g) for g in range(depth)]


def distribute(
    policy: Policy, total: int, *, workshop: Did, designers: Sequence[Designer]
) -> tuple[Part, ...]:
    """Split `total` minor units by `policy` (specs/07-ledger.md §4).

    `workshop` is the agent of the workshop's part; `designers` the
    derivation chain, generation 0 being the job's design. Parts whose share
    is zero are left out; the amounts always sum to `total`. Raises
    DistributionInputError for a total or chain the policy cannot share.
    """
    if not 0 <= total <= MAX_SAFE_INTEGER:
        raise DistributionInputError(f"the total must be an integer from 0 to {MAX_SAFE_INTEGER}")
    groups = _check_designers(policy, designers)
    whole = Fraction(BP_TOTAL)
    candidates: list[tuple[Fraction, Part]] = []

    def add(share: Fraction, **part: Any) -> None:
        if share:
            candidates.append((share, Part(amount=0, policy_version=policy.version, **part)))

    add(Fraction(policy.workshop_bp) / whole, agent=workshop, reason="workshop")
    weights = _generation_weights(policy.decay_bp, len(groups))
    designers_share = Fraction(policy.designers_bp) / whole
    for generation, group in enumerate(groups):
        generation_share = designers_share * Fraction(weights[generation], sum(weights))
        for designer in group:
            add(
                generation_share / len(group),
                agent=designer.agent,
                reason="designer",
                generation=generation,
                design=designer.design,
            )
    add(Fraction(policy.commons_bp) / whole, agent=policy.commons_fund, reason="commons")
    for named in policy.named:
        add(Fraction(named.bp) / whole, agent=named.agent, reason="named", label=named.label)
    amounts = largest_remainder(total, [share for share, _ in candidates])
    return tuple(
        Part(
            agent=part.agent,
            reason=part.reason,
            amount=amount,
            policy_version=part.policy_version,
            generation=part.generation,
            design=part.design,
            label=part.label,
        )
        for (_, part), amount in zip(candidates, amounts, strict=True)
    )


DesignLookup = Callable[[RecordId], tuple[Did, Did, Sequence[RecordId]] | None]


def derivation_generations(
    design: RecordId, lookup: DesignLookup, *, max_generations: int
) -> tuple[tuple[Designer, ...], tuple[RecordId, ...]]:
    """The derivation chain of `design`, cut at `max_generations` (specs/07-ledger.md §4.4).

    lookup(id) returns (log, author, derived_from) of a known design, or None.
    A design's generation is its shortest distance from `design` along
    derived_from; each design counts once. Returns the designers and the ids
    that were referenced within reach but are not known (the caller decides
    whether to wait for them). Raises DistributionInputError if `design`
    itself is unknown.
    """
    found = lookup(design)
    if found is None:
        raise DistributionInputError(f"design {design} is not known")
    seen: set[RecordId] = {design}
    missing: list[RecordId] = []
    chain: list[Designer] = [Designer(generation=0, design=design, log=found[0], agent=found[1])]
    frontier: list[tuple[RecordId, Sequence[RecordId]]] = [(design, found[2])]
    for generation in range(1, max_generations):
        parents: list[tuple[RecordId, Sequence[RecordId]]] = []
        for _, derived_from in frontier:
            for parent in derived_from:
                if parent in seen:
                    continue
                seen.add(parent)
                known = lookup(parent)
                if known is None:
                    missing.append(parent)
                    continue
                if len(chain) >= MAX_DESIGNERS:
                    return tuple(chain), tuple(missing)
                chain.append(
                    Designer(generation=generation, design=parent, log=known[0], agent=known[1])
                )
                parents.append((parent, known[2]))
        if not parents:
            break
        frontier = parents
    return tuple(chain), tuple(missing)
