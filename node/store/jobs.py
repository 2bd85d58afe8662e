"""The job projection: every job.* entry of every verified log, and each job's joined state.

`job_events` keeps each job.* entry (its job and the job's log, so a
job's entries from every log are one indexed read); `jobs` keeps, per job,
the summary of registry.jobs.job_view over them, recomputed inside the
transaction that stores a new entry of the job. Both can be rebuilt from
the logs. Rows never leave this module.
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
    String,
    Table,
    Text,
    and_,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from node.projections import ProjectedEntry, register_projector
from node.store.schema import entries as log_entries
from node.store.schema import metadata
from protocol.did import Did
from protocol.records import RECORD_TYPES, RecordId, parse_time
from registry.capacity_fields import milli
from registry.jobs import (
    ANSWER_TYPES,
    REQUESTER_TYPES,
    JobEvent,
    JobRequest,
    JobView,
    job_view,
)

__all__ = ["JobRow", "JobStore", "job_events", "jobs"]

job_events = Table(
    "job_events",
    metadata,
    Column("log_did", String(64), primary_key=True),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("job", String(71), nullable=False),
    Column("job_log", String(64), nullable=False),
    Column("record_id", String(71), nullable=False),
    Column("type", String(64), nullable=False),
    Column("author", String(64), nullable=False),
    Column("created", String(40), nullable=False),
    Column("body", Text, nullable=False),
    Index("ix_job_events_job", "job", "job_log"),
)

jobs = Table(
    "jobs",
    metadata,
    Column("job_log", String(64), primary_key=True),
    Column("job", String(71), primary_key=True),
    Column("known", Boolean, nullable=False),  # the job.request has been seen
    Column("requester", String(64), nullable=True),
    Column("state", String(16), nullable=False),
    Column("design", String(71), nullable=True),
    Column("deadline", String(40), nullable=True),
    # The assigned offer's workshop, else the latest offer's.
    Column("workshop_log", String(64), nullable=True),
    Column("workshop", String(64), nullable=True),
    Column("machine", String(64), nullable=True),
    Column("assigned", Boolean, nullable=False),
    Column("live_offer", String(71), nullable=True),
    Column("respond_by", String(40), nullable=True),
    Column("hours_milli", BigInteger, nullable=False),
    Column("offers", BigInteger, nullable=False),
    Column("updated", String(40), nullable=False),
    Index("ix_jobs_state", "state"),
    Index("ix_jobs_workshop", "workshop_log", "workshop"),
)


def _keys(e: ProjectedEntry) -> tuple[str, str]:
    """(job, job's log) of a job.* entry."""
    body: Any = e.body
    if isinstance(body, JobRequest):
        return e.record_id, e.log
    if e.record.type in REQUESTER_TYPES:
        return body.job, e.log
    return body.job, body.job_log


async def _events(conn: AsyncConnection, job: str, job_log: str) -> list[JobEvent]:
    query = select(job_events).where(job_events.c.job == job, job_events.c.job_log == job_log)
    out = []
    for r in await conn.execute(query):
        body = RECORD_TYPES[r.type].from_dict(json.loads(r.body))
        out.append(
            JobEvent(
                Did(r.log_did),
                int(r.idx),
                RecordId(r.record_id),
                r.type,
                Did(r.author),
                r.created,
                body,
            )
        )
    return out


def _summary(view: JobView, job_log: str) -> dict[str, Any]:
    current = view.assigned or (view.offers[-1] if view.offers else None)
    live = view.live_offer
    request = view.request
    # Fixed-width, so that the text sorts as the time does.
    updated = max(
        (parse_time(h.event.created).strftime("%Y-%m-%dT%H:%M:%S.%fZ") for h in view.history),
        default="",
    )
    return {
        "job_log": job_log,
        "job": view.job,
        "known": request is not None,
        "requester": view.requester,
        "state": view.state,
        "design": None if request is None else request.design,
        "deadline": None if request is None else request.deadline,
        "workshop_log": None if current is None else current.body.workshop_log,
        "workshop": None if current is None else current.body.workshop,
        "machine": None if current is None else current.body.machine,
        "assigned": view.assigned is not None,
        "live_offer": None if live is None else live.record_id,
        "respond_by": None if live is None else live.body.respond_by,
        "hours_milli": 0 if current is None else milli(current.body.estimate.hours),
        "offers": len(view.offers),
        "updated": updated,
    }


@register_projector
async def project_jobs(conn: AsyncConnection, entries: Sequence[ProjectedEntry]) -> None:
    """Keep job.* entries and refresh the state of every job they touch."""
    rows: list[dict[str, Any]] = []
    touched: set[tuple[str, str]] = set()
    for e in entries:
        if e.record.type not in REQUESTER_TYPES and e.record.type not in ANSWER_TYPES:
            continue
        job, job_log = _keys(e)
        touched.add((job, job_log))
        rows.append(
            {
                "log_did": e.log,
                "idx": e.index,
                "job": job,
                "job_log": job_log,
                "record_id": e.record_id,
                "type": e.record.type,
                "author": e.record.author,
                "created": e.record.created,
                "body": json.dumps(e.record.body, ensure_ascii=False, sort_keys=True),
            }
        )
    if not rows:
        return
    await conn.execute(insert(job_events), rows)
    for job, job_log in sorted(touched):
        view = job_view(RecordId(job), await _events(conn, job, job_log), Did(job_log))
        key = and_(jobs.c.job_log == job_log, jobs.c.job == job)
        await conn.execute(delete(jobs).where(key))
        await conn.execute(insert(jobs).values(**_summary(view, job_log)))


@dataclass(frozen=True, slots=True)
class JobRow:
    """One job's summary."""

    job_log: Did
    job: RecordId
    known: bool
    requester: Did | None
    state: str
    design: str | None
    deadline: str | None
    workshop_log: Did | None
    workshop: str | None
    machine: str | None
    assigned: bool
    live_offer: RecordId | None
    respond_by: str | None
    hours_milli: int
    offers: int
    updated: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.job,
            "log": self.job_log,
            "requester": self.requester,
            "state": self.state,
            "design": self.design,
            "deadline": self.deadline,
            "workshop": None
            if self.workshop is None
            else {"log": self.workshop_log, "workshop": self.workshop, "machine": self.machine},
            "assigned": self.assigned,
            "live_offer": self.live_offer,
            "respond_by": self.respond_by,
            "offers": self.offers,
            "updated": self.updated,
        }


def _row(r: Any) -> JobRow:
    m = r._mapping
    return JobRow(**{k: m[k] for k in JobRow.__dataclass_fields__})


class JobStore:
    """Reads the job tables."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def logs_of(self, job: str) -> list[Did]:
        """The logs holding a job with this id (normally one), known requests first."""
        query = (
            select(jobs.c.job_log)
            .where(jobs.c.job == job)
            .order_by(jobs.c.known.desc(), jobs.c.job_log)
        )
        async with self.engine.connect() as conn:
            return [Did(r.job_log) for r in await conn.execute(query)]

    async def view(self, job: str, job_log: str | None = None) -> JobView | None:
        """The joined view of a job, or None if no entry names it."""
        if job_log is None:
            found = await self.logs_of(job)
            if not found:
                return None
            job_log = found[0]
        async with self.engine.connect() as conn:
            events = await _events(conn, job, job_log)
        if not events:
            return None
        return job_view(RecordId(job), events, Did(job_log))

    async def find(
        self,
        *,
        job: str | None = None,
        state: str | None = None,
        job_log: str | None = None,
        requester: str | None = None,
        workshop_log: str | None = None,
        workshop: str | None = None,
        live_only: bool = False,
        limit: int = 100,
        offset: int = 0,
    ) -> list[JobRow]:
        query = select(jobs).order_by(jobs.c.updated.desc(), jobs.c.job).limit(limit)
        query = query.offset(offset)
        for column, value in (
            (jobs.c.job, job),
            (jobs.c.state, state),
            (jobs.c.job_log, job_log),
            (jobs.c.requester, requester),
            (jobs.c.workshop_log, workshop_log),
            (jobs.c.workshop, workshop),
        ):
            if value is not None:
                query = query.where(column == value)
        if live_only:
            query = query.where(jobs.c.live_offer.is_not(None))
        async with self.engine.connect() as conn:
            return [_row(r) for r in await conn.execute(query)]

    async def open_jobs_of(self, job_log: str) -> list[JobRow]:
        """Jobs of this log that are not yet assigned nor closed: what the driver watches."""
        query = select(jobs).where(
            jobs.c.job_log == job_log,
            jobs.c.known.is_(True),
            jobs.c.state.in_(("requested", "offered")),
        )
        async with self.engine.connect() as conn:
            return [_row(r) for r in await conn.execute(query)]

    async def track_records(
        self,
    ) -> tuple[dict[tuple[str, str], tuple[int, int]], dict[tuple[str, str, str], int]]:
        """Completed and failed jobs per (log, workshop), and committed machine hours
        (thousandths) per (log, workshop, machine) of jobs assigned and not yet made."""
        counts = (
            select(jobs.c.workshop_log, jobs.c.workshop, jobs.c.state, func.count())
            .where(jobs.c.assigned.is_(True), jobs.c.state.in_(("completed", "failed")))
            .group_by(jobs.c.workshop_log, jobs.c.workshop, jobs.c.state)
        )
        load = (
            select(
                jobs.c.workshop_log, jobs.c.workshop, jobs.c.machine, func.sum(jobs.c.hours_milli)
            )
            .where(jobs.c.assigned.is_(True), jobs.c.state.in_(("accepted", "in_production")))
            .group_by(jobs.c.workshop_log, jobs.c.workshop, jobs.c.machine)
        )
        records: dict[tuple[str, str], tuple[int, int]] = {}
        committed: dict[tuple[str, str, str], int] = {}
        async with self.engine.connect() as conn:
            for log, slug, state, n in await conn.execute(counts):
                done, failed = records.get((log, slug), (0, 0))
                records[(log, slug)] = (
                    (done + n, failed)
                    if state == "completed"
                    else (
                        done,
                        failed + n,
                    )
                )
            for log, slug, machine, total in await conn.execute(load):
                committed[(log, slug, machine)] = int(total or 0)
        return records, committed

    async def leaf(self, log: str, index: int) -> bytes | None:
        """The leaf bytes of one entry (to push it to a peer's inbox)."""
        query = select(log_entries.c.leaf).where(
            log_entries.c.log_did == log, log_entries.c.idx == index
        )
        async with self.engine.connect() as conn:
            value = (await conn.execute(query)).scalar_one_or_none()
        return None if value is None else bytes(value)
