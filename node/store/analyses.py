"""Mesh analyses: every log's design.analysis records, and this node's own work on them.

Three tables (migration 0004):
- `design_analyses`, a projection of verified `design.analysis` entries of
  every log, kept in the transaction that stores them;
- `analysis_tasks`, the model files of designs in this node's own log still
  to analyse (the projector adds them as the designs commit);
- `analysis_checks`, peers' analyses this node recomputes, with the outcome
  (specs/04a-mesh-analysis.md §9): agrees, disputed, pending, unverified.

`AnalysisStore` reads them for the API (`figures_for`, `for_design`) and for
the worker loop in node/analysis.py. Rows never leave this module.
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
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from node.projections import ProjectedEntry, register_projector
from node.store.database import insert_ignore
from node.store.schema import entries, logs, metadata
from protocol.did import Did
from registry.analysis import DesignAnalysis
from registry.figures import MeshFigures

__all__ = [
    "AnalysisStore",
    "CheckDue",
    "TaskDue",
    "analysis_checks",
    "analysis_tasks",
    "design_analyses",
]

design_analyses = Table(
    "design_analyses",
    metadata,
    Column("log_did", String(64), primary_key=True),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("record_id", String(71), nullable=False),
    Column("design", String(71), nullable=False),
    Column("file", String(64), nullable=False),
    Column("figures", Text, nullable=False),
    Column("thumbnail", String(64), nullable=True),
    Column("analyser", Text, nullable=False),
    Column("created", String(40), nullable=False),
    Index("ix_design_analyses_design", "design"),
    Index("ix_design_analyses_record", "record_id"),
)

# state: pending, done (an analysis is in the log), failed (the file was refused).
analysis_tasks = Table(
    "analysis_tasks",
    metadata,
    Column("design", String(71), primary_key=True),
    Column("file", String(64), primary_key=True),
    Column("filename", String(255), nullable=False),
    Column("units", String(8), nullable=False),
    Column("state", String(16), nullable=False),
    Column("detail", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt", BigInteger, nullable=False),
    Column("updated", BigInteger, nullable=False),
    Index("ix_analysis_tasks_due", "state", "next_attempt"),
)

# state: pending, agrees, disputed, unverified (could not be recomputed here).
analysis_checks = Table(
    "analysis_checks",
    metadata,
    Column("record_id", String(71), primary_key=True),
    Column("log_did", String(64), nullable=False),
    Column("design", String(71), nullable=False),
    Column("file", String(64), nullable=False),
    Column("filename", String(255), nullable=False),
    Column("units", String(8), nullable=False),
    Column("state", String(16), nullable=False),
    Column("local_figures", Text, nullable=True),
    Column("detail", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt", BigInteger, nullable=False),
    Column("updated", BigInteger, nullable=False),
    Index("ix_analysis_checks_due", "state", "next_attempt"),
    Index("ix_analysis_checks_design", "design"),
)


@dataclass(frozen=True, slots=True)
class TaskDue:
    """A model file of one of this node's designs, waiting for analysis."""

    design: str
    file: str
    filename: str
    units: str
    attempts: int


@dataclass(frozen=True, slots=True)
class CheckDue:
    """A peer's analysis waiting for this node's recomputation."""

    record_id: str
    log: Did
    design: str
    file: str
    filename: str
    units: str
    attempts: int
    figures: MeshFigures


def _model_files(body: Any) -> list[tuple[str, str, str]]:
    """(sha256, name, units) of a design body's model files, read defensively."""
    files = body.get("files", []) if isinstance(body, dict) else []
    out = []
    for item in files if isinstance(files, list) else []:
        if isinstance(item, dict) and item.get("role") == "model":
            sha, name, units = item.get("sha256"), item.get("name"), item.get("units", "mm")
            if isinstance(sha, str) and isinstance(name, str) and isinstance(units, str):
                out.append((sha, name, units))
    return out


async def _design_body(conn: AsyncConnection, log: str, design: str) -> Any:
    leaf = (
        await conn.execute(
            select(entries.c.leaf).where(
                entries.c.log_did == log, entries.c.record_id == design, entries.c.type == "design"
            )
        )
    ).scalar_one_or_none()
    if leaf is None:
        return None
    return json.loads(bytes(leaf))["record"]["body"]


@register_projector
async def project_analyses(conn: AsyncConnection, batch: Sequence[ProjectedEntry]) -> None:
    """Record design.analysis entries of every log, and queue this node's work."""
    relevant = [e for e in batch if e.record.type in ("design", DesignAnalysis.TYPE)]
    if not relevant:
        return
    dids = sorted({e.log for e in relevant})
    local = set(
        (
            await conn.execute(
                select(logs.c.did).where(logs.c.did.in_(dids), logs.c.is_local.is_(True))
            )
        ).scalars()
    )
    for entry in relevant:
        if entry.record.type == "design":
            if entry.log in local:
                await _queue_tasks(conn, entry)
            continue
        body = entry.body
        assert isinstance(body, DesignAnalysis)
        await conn.execute(
            insert_ignore(conn, design_analyses).values(
                log_did=entry.log,
                idx=entry.index,
                record_id=entry.record_id,
                design=body.design,
                file=body.file,
                figures=json.dumps(body.figures.to_dict(), sort_keys=True),
                thumbnail=body.thumbnail,
                analyser=json.dumps(dict(body.analyser), sort_keys=True),
                created=entry.record.created,
            )
        )
        if entry.log in local:
            await conn.execute(
                update(analysis_tasks)
                .where(analysis_tasks.c.design == body.design, analysis_tasks.c.file == body.file)
                .values(state="done", detail="")
            )
        else:
            await _queue_check(conn, entry, body)


async def _queue_tasks(conn: AsyncConnection, entry: ProjectedEntry) -> None:
    for sha, name, units in _model_files(entry.record.body):
        await conn.execute(
            insert_ignore(conn, analysis_tasks).values(
                design=entry.record_id,
                file=sha,
                filename=name[:255],
                units=units[:8],
                state="pending",
                detail="",
                attempts=0,
                next_attempt=0,
                updated=0,
            )
        )


async def _queue_check(conn: AsyncConnection, entry: ProjectedEntry, body: DesignAnalysis) -> None:
    design = await _design_body(conn, entry.log, body.design)
    match = [f for f in _model_files(design) if f[0] == body.file]
    state, detail = "pending", ""
    filename, units = "", body.figures.units
    if match:
        _, filename, units = match[0]
    else:
        state = "unverified"
        detail = "the analysing log has no design with this model file"
    await conn.execute(
        insert_ignore(conn, analysis_checks).values(
            record_id=entry.record_id,
            log_did=entry.log,
            design=body.design,
            file=body.file,
            filename=filename[:255],
            units=units[:8],
            state=state,
            local_figures=None,
            detail=detail,
            attempts=0,
            next_attempt=0,
            updated=0,
        )
    )


def _figures(text: str | None) -> MeshFigures | None:
    return None if text is None else MeshFigures.from_dict(json.loads(text))


class AnalysisStore:
    """Reads and updates the analysis tables."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def _local_did(self, conn: AsyncConnection) -> str | None:
        row = await conn.execute(select(logs.c.did).where(logs.c.is_local.is_(True)))
        return row.scalar_one_or_none()

    async def _rows(self, design_id: str) -> tuple[str | None, list[Any], list[Any]]:
        async with self.engine.connect() as conn:
            local = await self._local_did(conn)
            published = (
                await conn.execute(
                    select(design_analyses, analysis_checks)
                    .select_from(
                        design_analyses.outerjoin(
                            analysis_checks,
                            analysis_checks.c.record_id == design_analyses.c.record_id,
                        )
                    )
                    .where(design_analyses.c.design == design_id)
                    .order_by(design_analyses.c.file, design_analyses.c.log_did)
                    .order_by(design_analyses.c.idx)
                )
            ).all()
            tasks = (
                await conn.execute(
                    select(analysis_tasks)
                    .where(analysis_tasks.c.design == design_id)
                    .order_by(analysis_tasks.c.file)
                )
            ).all()
        return local, list(published), list(tasks)

    async def figures_for(self, design_id: str) -> list[tuple[str, MeshFigures]]:
        """One set of figures per model file (sha256, figures), from verified analyses.

        Per file, the first that exists of: this node's own analysis; a peer's
        analysis this node recomputed and agrees with; this node's
        recomputation where it disputes a peer's; a peer's unchecked analysis.
        """
        local, published, _ = await self._rows(design_id)
        best: dict[str, tuple[int, MeshFigures]] = {}
        for row in published:
            m = row._mapping
            figures = _figures(m[design_analyses.c.figures])
            state = m[analysis_checks.c.state]
            local_figures = _figures(m[analysis_checks.c.local_figures])
            if m[design_analyses.c.log_did] == local:
                rank = 0
            elif state == "agrees":
                rank = 1
            elif state == "disputed" and local_figures is not None:
                rank, figures = 2, local_figures
            else:
                rank = 3
            if figures is None:
                continue
            file = m[design_analyses.c.file]
            # Within a rank the newest entry wins (rows come oldest first).
            if file not in best or rank <= best[file][0]:
                best[file] = (rank, figures)
        return [(file, best[file][1]) for file in sorted(best)]

    async def thumbnails(self, design_ids: Sequence[str]) -> dict[str, str]:
        """The preview URL of each design that has one, in one query for a page of results.

        Per design, the first analysis with a thumbnail in `for_design`'s order.
        """
        if not design_ids:
            return {}
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(design_analyses.c.design, design_analyses.c.thumbnail)
                    .where(design_analyses.c.design.in_(list(design_ids)))
                    .where(design_analyses.c.thumbnail.is_not(None))
                    .order_by(
                        design_analyses.c.design,
                        design_analyses.c.file,
                        design_analyses.c.log_did,
                        design_analyses.c.idx,
                    )
                )
            ).all()
        out: dict[str, str] = {}
        for design, thumbnail in rows:
            out.setdefault(design, f"/blobs/sha256/{thumbnail}")
        return out

    async def for_design(self, design_id: str) -> list[dict[str, Any]]:
        """Every analysis of the design's model files, ready for the API.

        Each item: file, log (the analysing log's did), record_id, index,
        analyser, figures, thumbnail (URL or null), agreement ("own",
        "agrees", "disputed", "pending", "unverified" or "failed"),
        local_figures (this node's recomputation, when it has one) and detail.
        """
        local, published, tasks = await self._rows(design_id)
        out: list[dict[str, Any]] = []
        for row in published:
            m = row._mapping
            is_own = m[design_analyses.c.log_did] == local
            state = m[analysis_checks.c.state]
            local_figures = _figures(m[analysis_checks.c.local_figures])
            thumbnail = m[design_analyses.c.thumbnail]
            out.append(
                {
                    "file": m[design_analyses.c.file],
                    "log": m[design_analyses.c.log_did],
                    "record_id": m[design_analyses.c.record_id],
                    "index": int(m[design_analyses.c.idx]),
                    "analyser": json.loads(m[design_analyses.c.analyser]),
                    "figures": json.loads(m[design_analyses.c.figures]),
                    "thumbnail": None if thumbnail is None else f"/blobs/sha256/{thumbnail}",
                    "agreement": "own" if is_own else (state or "pending"),
                    "local_figures": None if local_figures is None else local_figures.to_dict(),
                    "detail": "" if is_own else (m[analysis_checks.c.detail] or ""),
                }
            )
        for row in tasks:
            m = row._mapping
            if m["state"] != "failed":
                continue
            out.append(
                {
                    "file": m["file"],
                    "log": local,
                    "record_id": None,
                    "index": None,
                    "analyser": None,
                    "figures": None,
                    "thumbnail": None,
                    "agreement": "failed",
                    "local_figures": None,
                    "detail": m["detail"],
                }
            )
        return out

    # -- the worker loop's side (node/analysis.py) -------------------------------------------

    async def due_tasks(self, now: int, limit: int) -> list[TaskDue]:
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(analysis_tasks)
                    .where(
                        analysis_tasks.c.state == "pending", analysis_tasks.c.next_attempt <= now
                    )
                    .order_by(analysis_tasks.c.next_attempt, analysis_tasks.c.design)
                    .limit(limit)
                )
            ).all()
        return [TaskDue(r.design, r.file, r.filename, r.units, int(r.attempts)) for r in rows]

    async def due_checks(self, now: int, limit: int) -> list[CheckDue]:
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(analysis_checks, design_analyses.c.figures)
                    .join(
                        design_analyses,
                        and_(
                            design_analyses.c.record_id == analysis_checks.c.record_id,
                            design_analyses.c.log_did == analysis_checks.c.log_did,
                        ),
                    )
                    .where(
                        analysis_checks.c.state == "pending",
                        analysis_checks.c.next_attempt <= now,
                    )
                    .order_by(analysis_checks.c.next_attempt, analysis_checks.c.record_id)
                    .limit(limit)
                )
            ).all()
        out = []
        for r in rows:
            m = r._mapping
            figures = MeshFigures.from_dict(json.loads(m[design_analyses.c.figures]))
            out.append(
                CheckDue(
                    record_id=m[analysis_checks.c.record_id],
                    log=Did(m[analysis_checks.c.log_did]),
                    design=m[analysis_checks.c.design],
                    file=m[analysis_checks.c.file],
                    filename=m[analysis_checks.c.filename],
                    units=m[analysis_checks.c.units],
                    attempts=int(m[analysis_checks.c.attempts]),
                    figures=figures,
                )
            )
        return out

    async def next_due(self) -> int | None:
        """The earliest next_attempt of any pending task or check (epoch seconds)."""
        async with self.engine.connect() as conn:
            times = [
                (
                    await conn.execute(
                        select(table.c.next_attempt)
                        .where(table.c.state == "pending")
                        .order_by(table.c.next_attempt)
                        .limit(1)
                    )
                ).scalar_one_or_none()
                for table in (analysis_tasks, analysis_checks)
            ]
        present = [int(t) for t in times if t is not None]
        return min(present) if present else None

    async def has_own_analysis(self, log: str, design: str, file: str) -> bool:
        async with self.engine.connect() as conn:
            row = await conn.execute(
                select(design_analyses.c.record_id)
                .where(
                    design_analyses.c.log_did == log,
                    design_analyses.c.design == design,
                    design_analyses.c.file == file,
                )
                .limit(1)
            )
            return row.first() is not None

    async def update_task(
        self,
        design: str,
        file: str,
        *,
        state: str,
        detail: str,
        attempts: int,
        next_attempt: int,
        now: int,
    ) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(analysis_tasks)
                .where(
                    analysis_tasks.c.design == design,
                    analysis_tasks.c.file == file,
                    analysis_tasks.c.state == "pending",
                )
                .values(
                    state=state,
                    detail=detail[:2000],
                    attempts=attempts,
                    next_attempt=next_attempt,
                    updated=now,
                )
            )

    async def update_check(
        self,
        record_id: str,
        *,
        state: str,
        detail: str,
        attempts: int,
        next_attempt: int,
        now: int,
        local_figures: MeshFigures | None = None,
    ) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(analysis_checks)
                .where(analysis_checks.c.record_id == record_id)
                .values(
                    state=state,
                    detail=detail[:2000],
                    attempts=attempts,
                    next_attempt=next_attempt,
                    updated=now,
                    local_figures=None
                    if local_figures is None
                    else json.dumps(local_figures.to_dict(), sort_keys=True),
                )
            )
