"""Governance projections, their projector, and `GovernanceStore` (specs/06-governance.md §10).

The projector runs inside the transaction that stores verified entries, own
and followed logs alike. It keeps each log's members and delegations as the
log states them, so that a proposal's electorate and delegations are taken
at its position, and each voter's last ballot. When a `proposal.result`
arrives it recomputes the tally from these tables with governance/tally.py
(a path independent of the authority state the rules used) and stores
whether it agrees with the published one. Execution errors of adopted
actions are the only thing written later, by node/governance_service.py.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from governance.actions import canonical_equal
from governance.proposals import Ballot, Delegation, Proposal, ProposalResult
from governance.tally import Tally, Vote, tally
from governance.terms import Choice
from node.projections import ProjectedEntry, register_projector
from node.store.schema import metadata
from protocol.did import Did
from protocol.membership import MemberAdmit, MemberLeave
from protocol.records import parse_time

__all__ = [
    "GovernanceStore",
    "StoredBallot",
    "StoredProposal",
    "gov_ballots",
    "gov_delegations",
    "gov_members",
    "gov_proposals",
]

gov_members = Table(
    "gov_members",
    metadata,
    Column("log_did", String(64), primary_key=True),
    Column("identity", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
)

gov_delegations = Table(
    "gov_delegations",
    metadata,
    Column("log_did", String(64), primary_key=True),
    Column("topic", String(64), primary_key=True),
    Column("identity", String(64), primary_key=True),
    Column("delegate", String(64), nullable=False),
)

gov_proposals = Table(
    "gov_proposals",
    metadata,
    Column("log_did", String(64), primary_key=True),
    Column("proposal_id", String(71), primary_key=True),
    Column("idx", BigInteger, nullable=False),
    Column("author", String(64), nullable=False),
    Column("created", String(40), nullable=False),
    Column("title", String(200), nullable=False),
    Column("method", String(16), nullable=False),
    Column("closes", String(40), nullable=False),
    Column("body", Text, nullable=False),
    # JSON: the sorted electorate and the delegations at the proposal's position.
    Column("electorate", Text, nullable=False),
    Column("delegations", Text, nullable=False),
    Column("ballots_cast", Integer, nullable=False),
    Column("result_id", String(71), nullable=True),
    Column("result_created", String(40), nullable=True),
    Column("tally", Text, nullable=True),
    Column("recomputed", Text, nullable=True),
    # "agrees" or "disagrees" once the result is in (specs/06-governance.md §10.3).
    Column("agreement", String(16), nullable=True),
    Column("adopted", Boolean, nullable=True),
    Column("executed_by", String(71), nullable=True),
    Column("execution_error", Text, nullable=True),
    Index("ix_gov_proposals_result", "result_id"),
    Index("ix_gov_proposals_closes", "closes"),
)

gov_ballots = Table(
    "gov_ballots",
    metadata,
    Column("log_did", String(64), primary_key=True),
    Column("proposal_id", String(71), primary_key=True),
    Column("voter", String(64), primary_key=True),
    Column("idx", BigInteger, nullable=False),
    Column("record_id", String(71), nullable=False),
    Column("created", String(40), nullable=False),
    Column("choice", Text, nullable=False),
)

# Record types that may cite a decision they execute, and the body member naming it.
_EXECUTING = {
    "member.admit": "result",
    "member.leave": "result",
    "peer.federate": "result",
    "peer.block": "result",
    "node.parameter": "result",
    "ledger.policy": "decision",
}


@dataclass(frozen=True, slots=True)
class StoredProposal:
    """A proposal of some log, with its result and this node's recomputation."""

    log: Did
    proposal_id: str
    index: int
    author: Did
    created: str
    proposal: Proposal
    electorate: list[str]
    delegations: dict[str, str]
    ballots_cast: int
    result_id: str | None
    result_created: str | None
    tally: dict[str, Any] | None
    recomputed: dict[str, Any] | None
    agreement: str | None
    adopted: bool | None
    executed_by: str | None
    execution_error: str | None


@dataclass(frozen=True, slots=True)
class StoredBallot:
    voter: Did
    index: int
    record_id: str
    created: str
    choice: dict[str, Any]


def _proposal_row(row: Any) -> StoredProposal:
    m = row._mapping
    return StoredProposal(
        log=Did(m["log_did"]),
        proposal_id=m["proposal_id"],
        index=int(m["idx"]),
        author=Did(m["author"]),
        created=m["created"],
        proposal=Proposal.from_dict(json.loads(m["body"])),
        electorate=json.loads(m["electorate"]),
        delegations=json.loads(m["delegations"]),
        ballots_cast=int(m["ballots_cast"]),
        result_id=m["result_id"],
        result_created=m["result_created"],
        tally=json.loads(m["tally"]) if m["tally"] else None,
        recomputed=json.loads(m["recomputed"]) if m["recomputed"] else None,
        agreement=m["agreement"],
        adopted=m["adopted"],
        executed_by=m["executed_by"],
        execution_error=m["execution_error"],
    )


def recompute(stored: StoredProposal, ballots: Sequence[StoredBallot], now_text: str) -> Tally:
    """The tally of a stored proposal from its stored ballots, at `now_text`."""
    votes = [
        Vote(voter=b.voter, choice=Choice.from_dict(b.choice), created=parse_time(b.created))
        for b in sorted(ballots, key=lambda b: b.index)
    ]
    return tally(
        stored.proposal.terms,
        votes,
        proposal_id=stored.proposal_id,
        electorate=[Did(m) for m in stored.electorate],
        delegations={Did(k): Did(v) for k, v in stored.delegations.items()},
        now=parse_time(now_text),
    )


async def _ballots(conn: AsyncConnection, log: str, proposal_id: str) -> list[StoredBallot]:
    rows = await conn.execute(
        select(gov_ballots)
        .where(gov_ballots.c.log_did == log, gov_ballots.c.proposal_id == proposal_id)
        .order_by(gov_ballots.c.idx)
    )
    return [
        StoredBallot(
            voter=Did(r.voter),
            index=int(r.idx),
            record_id=r.record_id,
            created=r.created,
            choice=json.loads(r.choice),
        )
        for r in rows
    ]


async def _on_proposal(conn: AsyncConnection, e: ProjectedEntry, body: Proposal) -> None:
    members = await conn.execute(
        select(gov_members.c.identity).where(gov_members.c.log_did == e.log)
    )
    electorate = sorted(r.identity for r in members)
    delegations: dict[str, str] = {}
    topic = body.terms.delegation
    if topic is not None:
        rows = await conn.execute(
            select(gov_delegations.c.identity, gov_delegations.c.delegate).where(
                gov_delegations.c.log_did == e.log, gov_delegations.c.topic == topic
            )
        )
        delegations = {r.identity: r.delegate for r in rows}
    await conn.execute(
        insert(gov_proposals).values(
            log_did=e.log,
            proposal_id=e.record_id,
            idx=e.index,
            author=e.identity,
            created=e.record.created,
            title=body.title,
            method=body.terms.method,
            closes=body.terms.closes,
            body=json.dumps(body.to_dict()),
            electorate=json.dumps(electorate),
            delegations=json.dumps(delegations),
            ballots_cast=0,
        )
    )


async def _on_ballot(conn: AsyncConnection, e: ProjectedEntry, body: Ballot) -> None:
    await conn.execute(
        delete(gov_ballots).where(
            gov_ballots.c.log_did == e.log,
            gov_ballots.c.proposal_id == body.proposal,
            gov_ballots.c.voter == e.identity,
        )
    )
    await conn.execute(
        insert(gov_ballots).values(
            log_did=e.log,
            proposal_id=body.proposal,
            voter=e.identity,
            idx=e.index,
            record_id=e.record_id,
            created=e.record.created,
            choice=json.dumps(body.choice.to_dict()),
        )
    )
    await conn.execute(
        update(gov_proposals)
        .where(gov_proposals.c.log_did == e.log, gov_proposals.c.proposal_id == body.proposal)
        .values(ballots_cast=gov_proposals.c.ballots_cast + 1)
    )


async def _on_result(conn: AsyncConnection, e: ProjectedEntry, body: ProposalResult) -> None:
    row = (
        await conn.execute(
            select(gov_proposals).where(
                gov_proposals.c.log_did == e.log, gov_proposals.c.proposal_id == body.proposal
            )
        )
    ).first()
    if row is None:
        return  # the rules admit no result without its proposal; nothing to recompute
    stored = _proposal_row(row)
    recomputed = recompute(stored, await _ballots(conn, e.log, body.proposal), e.record.created)
    published = body.tally.to_dict()
    agrees = canonical_equal(published, recomputed.to_dict())
    await conn.execute(
        update(gov_proposals)
        .where(gov_proposals.c.log_did == e.log, gov_proposals.c.proposal_id == body.proposal)
        .values(
            result_id=e.record_id,
            result_created=e.record.created,
            tally=json.dumps(published),
            recomputed=json.dumps(recomputed.to_dict()),
            agreement="agrees" if agrees else "disagrees",
            adopted=body.tally.adopted,
        )
    )


async def _on_membership(conn: AsyncConnection, e: ProjectedEntry) -> None:
    body = e.body
    if isinstance(body, MemberAdmit):
        await conn.execute(
            insert(gov_members).values(log_did=e.log, identity=body.member, role=body.role)
        )
    elif isinstance(body, MemberLeave):
        await conn.execute(
            delete(gov_members).where(
                gov_members.c.log_did == e.log, gov_members.c.identity == body.member
            )
        )


async def _on_delegation(conn: AsyncConnection, e: ProjectedEntry, body: Delegation) -> None:
    await conn.execute(
        delete(gov_delegations).where(
            gov_delegations.c.log_did == e.log,
            gov_delegations.c.topic == body.topic,
            gov_delegations.c.identity == e.identity,
        )
    )
    if body.delegate is not None:
        await conn.execute(
            insert(gov_delegations).values(
                log_did=e.log, topic=body.topic, identity=e.identity, delegate=body.delegate
            )
        )


async def _on_execution(conn: AsyncConnection, e: ProjectedEntry, cited: str) -> None:
    await conn.execute(
        update(gov_proposals)
        .where(gov_proposals.c.log_did == e.log, gov_proposals.c.result_id == cited)
        .values(executed_by=e.record_id, execution_error=None)
    )


@register_projector
async def project_governance(conn: AsyncConnection, entries: Sequence[ProjectedEntry]) -> None:
    """Keep the governance tables in step with verified entries, in log order."""
    for e in entries:
        body = e.body
        if isinstance(body, MemberAdmit | MemberLeave):
            await _on_membership(conn, e)
        if isinstance(body, Proposal):
            await _on_proposal(conn, e, body)
        elif isinstance(body, Ballot):
            await _on_ballot(conn, e, body)
        elif isinstance(body, ProposalResult):
            await _on_result(conn, e, body)
        elif isinstance(body, Delegation):
            await _on_delegation(conn, e, body)
        field = _EXECUTING.get(e.record.type)
        if field is not None and e.record.author == e.log:
            cited = e.record.body.get(field)
            if isinstance(cited, str):
                await _on_execution(conn, e, cited)


class GovernanceStore:
    """Reads of the governance tables; the projector alone writes them (but for errors)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def proposals(
        self, *, log: str | None = None, status: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[StoredProposal], int]:
        """A page of proposals, newest first, and how many match in all."""
        query = select(gov_proposals)
        count = select(func.count()).select_from(gov_proposals)
        conditions = []
        if log is not None:
            conditions.append(gov_proposals.c.log_did == log)
        if status == "open":
            conditions.append(gov_proposals.c.result_id.is_(None))
        elif status == "closed":
            conditions.append(gov_proposals.c.result_id.is_not(None))
        for condition in conditions:
            query = query.where(condition)
            count = count.where(condition)
        query = query.order_by(gov_proposals.c.created.desc(), gov_proposals.c.proposal_id)
        async with self.engine.connect() as conn:
            rows = await conn.execute(query.limit(limit).offset(offset))
            total = (await conn.execute(count)).scalar_one()
            return [_proposal_row(r) for r in rows], int(total)

    async def get(
        self, proposal_id: str, *, prefer_log: str | None = None
    ) -> StoredProposal | None:
        """A proposal by id; if several logs hold it, the one of `prefer_log` first."""
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(gov_proposals).where(gov_proposals.c.proposal_id == proposal_id)
                )
            ).all()
        found = sorted((_proposal_row(r) for r in rows), key=lambda p: (p.log != prefer_log, p.log))
        return found[0] if found else None

    async def ballots(self, log: str, proposal_id: str) -> list[StoredBallot]:
        async with self.engine.connect() as conn:
            return await _ballots(conn, log, proposal_id)

    async def set_execution_error(self, log: str, result_id: str, error: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(gov_proposals)
                .where(
                    gov_proposals.c.log_did == log,
                    gov_proposals.c.result_id == result_id,
                    gov_proposals.c.executed_by.is_(None),
                )
                .values(execution_error=error[:2000])
            )
