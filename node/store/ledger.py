"""The ledger's projection tables, their projector, and `LedgerStore` (specs/07-ledger.md §7).

Rows are written only by the projector, inside the transaction that stores
verified entries, so the tables never hold an unverified record and can be
rebuilt from the logs. The agreement columns of `ledger_distributions` are
the one thing written later: node/ledger_driver.py's verdict after it
recomputes a distribution's derivation chain from this node's logs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
    and_,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from governance.balances import ContributionFact, contribution_totals, money_balances
from governance.ledger import LedgerConfirm, LedgerContribution, LedgerDistribution, LedgerPolicy
from node.projections import ProjectedEntry, register_projector
from node.store.schema import metadata
from protocol.did import Did
from protocol.records import RecordId

__all__ = [
    "AGREEMENTS",
    "AgentEntry",
    "LedgerStore",
    "StoredDistribution",
    "StoredPolicy",
    "ledger_confirms",
    "ledger_contributions",
    "ledger_distributions",
    "ledger_parts",
    "ledger_policies",
]

# specs/07-ledger.md §5.4: what this node found when it recomputed a distribution.
AGREEMENTS = ("pending", "agree", "disagree", "unknown")

ledger_contributions = Table(
    "ledger_contributions",
    metadata,
    Column("log_did", String(64), primary_key=True),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("record_id", String(71), nullable=False),
    Column("provider", String(64), nullable=False),
    Column("receiver", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("resource_value", String(32), nullable=True),
    Column("resource_unit", String(32), nullable=True),
    Column("effort_value", String(32), nullable=True),
    Column("effort_unit", String(32), nullable=True),
    Column("at", String(40), nullable=False),
    Column("corrects", String(71), nullable=True),
    Column("body", Text, nullable=False),
    Index("ix_ledger_contributions_id", "record_id"),
    Index("ix_ledger_contributions_provider", "provider"),
    Index("ix_ledger_contributions_receiver", "receiver"),
)

ledger_confirms = Table(
    "ledger_confirms",
    metadata,
    Column("log_did", String(64), primary_key=True),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("record_id", String(71), nullable=False),
    Column("contribution", String(71), nullable=False),
    Column("contribution_log", String(64), nullable=False),
    Column("confirmer", String(64), nullable=False),
    Index("ix_ledger_confirms_contribution", "contribution"),
)

ledger_policies = Table(
    "ledger_policies",
    metadata,
    Column("log_did", String(64), primary_key=True),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("record_id", String(71), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("decision", String(71), nullable=False),
    Column("created", String(40), nullable=False),
    Column("body", Text, nullable=False),
    Index("ix_ledger_policies_id", "record_id"),
)

ledger_distributions = Table(
    "ledger_distributions",
    metadata,
    Column("log_did", String(64), primary_key=True),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("record_id", String(71), nullable=False),
    Column("complete", String(71), nullable=False),
    Column("job", String(71), nullable=False),
    Column("job_log", String(64), nullable=False),
    Column("workshop", String(64), nullable=False),
    Column("policy", String(71), nullable=False),
    Column("policy_version", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("total", BigInteger, nullable=False),
    Column("created", String(40), nullable=False),
    Column("body", Text, nullable=False),
    Column("agreement", String(16), nullable=False),
    Column("detail", Text, nullable=False),
    Index("ix_ledger_distributions_job", "job"),
    Index("ix_ledger_distributions_agreement", "agreement"),
)

ledger_parts = Table(
    "ledger_parts",
    metadata,
    Column("log_did", String(64), primary_key=True),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("n", Integer, primary_key=True, autoincrement=False),
    Column("agent", String(64), nullable=False),
    Column("reason", String(16), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Index("ix_ledger_parts_agent", "agent"),
)


@register_projector
async def project_ledger(conn: AsyncConnection, entries: Sequence[ProjectedEntry]) -> None:
    """Add the ledger rows of verified entries (in the caller's transaction)."""
    contributions: list[dict[str, Any]] = []
    confirms: list[dict[str, Any]] = []
    policies: list[dict[str, Any]] = []
    distributions: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for e in entries:
        key = {"log_did": e.log, "idx": e.index}
        body = e.body
        if isinstance(body, LedgerContribution):
            contributions.append(
                {
                    **key,
                    "record_id": e.record_id,
                    "provider": body.provider,
                    "receiver": body.receiver,
                    "action": body.action,
                    "resource_value": body.resource_quantity and body.resource_quantity.value,
                    "resource_unit": body.resource_quantity and body.resource_quantity.unit,
                    "effort_value": body.effort_quantity and body.effort_quantity.value,
                    "effort_unit": body.effort_quantity and body.effort_quantity.unit,
                    "at": body.at,
                    "corrects": body.corrects,
                    "body": json.dumps(body.to_dict()),
                }
            )
        elif isinstance(body, LedgerConfirm):
            confirms.append(
                {
                    **key,
                    "record_id": e.record_id,
                    "contribution": body.contribution,
                    "contribution_log": body.log,
                    "confirmer": e.identity,
                }
            )
        elif isinstance(body, LedgerPolicy):
            policies.append(
                {
                    **key,
                    "record_id": e.record_id,
                    "version": body.policy.version,
                    "decision": body.decision,
                    "created": e.record.created,
                    "body": json.dumps(body.policy.to_dict()),
                }
            )
        elif isinstance(body, LedgerDistribution):
            distributions.append(
                {
                    **key,
                    "record_id": e.record_id,
                    "complete": body.complete,
                    "job": body.job,
                    "job_log": body.job_log,
                    "workshop": body.workshop,
                    "policy": body.policy,
                    "policy_version": body.policy_version,
                    "currency": body.total.currency,
                    "total": body.total.amount,
                    "created": e.record.created,
                    "body": json.dumps(body.to_dict()),
                    "agreement": "pending",
                    "detail": "",
                }
            )
            parts.extend(
                {
                    **key,
                    "n": n,
                    "agent": part.agent,
                    "reason": part.reason,
                    "amount": part.amount,
                    "currency": body.total.currency,
                }
                for n, part in enumerate(body.parts)
            )
    for table, rows in (
        (ledger_contributions, contributions),
        (ledger_confirms, confirms),
        (ledger_policies, policies),
        (ledger_distributions, distributions),
        (ledger_parts, parts),
    ):
        if rows:
            await conn.execute(insert(table), rows)


@dataclass(frozen=True, slots=True)
class StoredPolicy:
    log: Did
    index: int
    record_id: RecordId
    version: int
    decision: RecordId
    created: str
    policy: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "log": self.log,
            "index": self.index,
            "id": self.record_id,
            "version": self.version,
            "decision": self.decision,
            "created": self.created,
            "policy": self.policy,
        }


@dataclass(frozen=True, slots=True)
class StoredDistribution:
    log: Did
    index: int
    record_id: RecordId
    created: str
    body: dict[str, Any]
    agreement: str
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {
            "log": self.log,
            "index": self.index,
            "id": self.record_id,
            "created": self.created,
            **self.body,
            "agreement": self.agreement,
            "agreement_detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class AgentEntry:
    """A ledger entry that concerns an agent: where it is, and what it is."""

    log: Did
    index: int
    record_id: RecordId
    type: str


def _distribution(row: Any) -> StoredDistribution:
    return StoredDistribution(
        log=Did(row.log_did),
        index=int(row.idx),
        record_id=RecordId(row.record_id),
        created=row.created,
        body=json.loads(row.body),
        agreement=row.agreement,
        detail=row.detail,
    )


def _fact(row: Any) -> ContributionFact:
    return ContributionFact(
        log=Did(row.log_did),
        index=int(row.idx),
        id=RecordId(row.record_id),
        provider=Did(row.provider),
        action=row.action,
        resource=(row.resource_value, row.resource_unit) if row.resource_value else None,
        effort=(row.effort_value, row.effort_unit) if row.effort_value else None,
        corrects=RecordId(row.corrects) if row.corrects else None,
    )


class LedgerStore:
    """Reads of the ledger projection; the agreement verdicts of recomputed distributions."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def money_balances(self, agent: str | None = None) -> dict[tuple[Did, str], int]:
        """Shared money per (agent, currency), from every verified distribution."""
        query = select(
            ledger_parts.c.agent,
            ledger_parts.c.currency,
            func.sum(ledger_parts.c.amount).label("amount"),
        ).group_by(ledger_parts.c.agent, ledger_parts.c.currency)
        if agent is not None:
            query = query.where(ledger_parts.c.agent == agent)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return money_balances([(Did(r.agent), r.currency, int(r.amount)) for r in rows])

    async def contribution_facts(self, provider: str | None = None) -> list[ContributionFact]:
        """Contributions (of one provider, or all) as governance.balances needs them."""
        query = select(ledger_contributions)
        if provider is not None:
            query = query.where(ledger_contributions.c.provider == provider)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_fact(r) for r in rows]

    async def contribution_totals(
        self, provider: str | None = None
    ) -> dict[tuple[Did, str, str, str], str]:
        """Net contributions per (provider, action, kind, unit) (specs/07-ledger.md §6.1)."""
        return contribution_totals(await self.contribution_facts(provider))

    async def confirmed(self, contributions: Sequence[str]) -> set[str]:
        """Those of the contribution ids that their receiver confirmed (§2.2)."""
        if not contributions:
            return set()
        out: set[str] = set()
        async with self.engine.connect() as conn:
            for start in range(0, len(contributions), 500):
                chunk = list(contributions[start : start + 500])
                rows = await conn.execute(
                    select(ledger_confirms.c.contribution)
                    .join(
                        ledger_contributions,
                        and_(
                            ledger_contributions.c.record_id == ledger_confirms.c.contribution,
                            ledger_contributions.c.log_did == ledger_confirms.c.contribution_log,
                            ledger_contributions.c.receiver == ledger_confirms.c.confirmer,
                        ),
                    )
                    .where(ledger_confirms.c.contribution.in_(chunk))
                )
                out.update(r.contribution for r in rows)
        return out

    async def agent_entries(self, agent: str, *, limit: int) -> list[AgentEntry]:
        """Every ledger entry naming `agent`, in (log, index) order, at most `limit`."""
        c, f, p, d = ledger_contributions, ledger_confirms, ledger_parts, ledger_distributions
        out: list[AgentEntry] = []
        async with self.engine.connect() as conn:
            for table, kind, where in (
                (c, "ledger.contribution", or_(c.c.provider == agent, c.c.receiver == agent)),
                (f, "ledger.confirm", f.c.confirmer == agent),
            ):
                rows = await conn.execute(
                    select(table.c.log_did, table.c.idx, table.c.record_id)
                    .where(where)
                    .order_by(table.c.log_did, table.c.idx)
                    .limit(limit + 1)
                )
                out.extend(
                    AgentEntry(Did(r.log_did), int(r.idx), RecordId(r.record_id), kind)
                    for r in rows
                )
            rows = await conn.execute(
                select(d.c.log_did, d.c.idx, d.c.record_id)
                .where(
                    select(p.c.n)
                    .where(p.c.log_did == d.c.log_did, p.c.idx == d.c.idx, p.c.agent == agent)
                    .exists()
                )
                .order_by(d.c.log_did, d.c.idx)
                .limit(limit + 1)
            )
            out.extend(
                AgentEntry(Did(r.log_did), int(r.idx), RecordId(r.record_id), "ledger.distribution")
                for r in rows
            )
        out.sort(key=lambda e: (e.log, e.index))
        return out[: limit + 1]

    async def contributions_by_id(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Contribution bodies by record id."""
        out: dict[str, dict[str, Any]] = {}
        async with self.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                rows = await conn.execute(
                    select(ledger_contributions.c.record_id, ledger_contributions.c.body).where(
                        ledger_contributions.c.record_id.in_(list(ids[start : start + 500]))
                    )
                )
                out.update({r.record_id: json.loads(r.body) for r in rows})
        return out

    async def distributions(
        self, *, job: str | None = None, limit: int, offset: int = 0
    ) -> list[StoredDistribution]:
        query = select(ledger_distributions)
        if job is not None:
            query = query.where(ledger_distributions.c.job == job)
        query = query.order_by(ledger_distributions.c.log_did, ledger_distributions.c.idx)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query.limit(limit).offset(offset))).all()
        return [_distribution(r) for r in rows]

    async def distributions_to_check(self, limit: int) -> list[StoredDistribution]:
        """Distributions not yet recomputed, or recomputed without enough knowledge."""
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(ledger_distributions)
                    .where(ledger_distributions.c.agreement.in_(("pending", "unknown")))
                    .order_by(ledger_distributions.c.log_did, ledger_distributions.c.idx)
                    .limit(limit)
                )
            ).all()
        return [_distribution(r) for r in rows]

    async def set_agreement(self, log: str, index: int, agreement: str, detail: str) -> None:
        if agreement not in AGREEMENTS:
            raise ValueError(f"unknown agreement {agreement!r}")
        async with self.engine.begin() as conn:
            await conn.execute(
                update(ledger_distributions)
                .where(ledger_distributions.c.log_did == log, ledger_distributions.c.idx == index)
                .values(agreement=agreement, detail=detail[:2000])
            )

    async def policies(self, log: str | None = None) -> list[StoredPolicy]:
        query = select(ledger_policies)
        if log is not None:
            query = query.where(ledger_policies.c.log_did == log)
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(query.order_by(ledger_policies.c.log_did, ledger_policies.c.idx))
            ).all()
        return [
            StoredPolicy(
                log=Did(r.log_did),
                index=int(r.idx),
                record_id=RecordId(r.record_id),
                version=int(r.version),
                decision=RecordId(r.decision),
                created=r.created,
                policy=json.loads(r.body),
            )
            for r in rows
        ]

    async def policy(self, log: str, record_id: str) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(ledger_policies.c.body).where(
                        ledger_policies.c.log_did == log, ledger_policies.c.record_id == record_id
                    )
                )
            ).first()
        return None if row is None else dict(json.loads(row.body))

    async def export_rows(
        self, *, limit: int
    ) -> tuple[list[tuple[Did, int, RecordId, dict[str, Any]]], list[StoredDistribution]]:
        """Contributions (log, index, id, body) and distributions for the JSON-LD export."""
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(ledger_contributions)
                    .order_by(ledger_contributions.c.log_did, ledger_contributions.c.idx)
                    .limit(limit)
                )
            ).all()
            drows = (
                await conn.execute(
                    select(ledger_distributions)
                    .order_by(ledger_distributions.c.log_did, ledger_distributions.c.idx)
                    .limit(limit)
                )
            ).all()
        contributions = [
            (Did(r.log_did), int(r.idx), RecordId(r.record_id), json.loads(r.body)) for r in rows
        ]
        return contributions, [_distribution(r) for r in drows]
