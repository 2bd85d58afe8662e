"""The design projection: designs of every verified log, their files, lineage and search terms.

The projector runs inside the transaction that stores entries (own appends
and synced peers' alike), so these tables only ever hold verified designs
and can be rebuilt from the logs. A design appended to two logs (one
envelope, one record id) is kept once, as first seen. `DesignStore` reads
them back as `StoredDesign`s; rows never leave this module.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Sequence
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
    exists,
    func,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import Select

from node.projections import ProjectedEntry, register_projector
from node.store.analyses import design_analyses
from node.store.database import insert_ignore
from node.store.schema import metadata
from protocol.did import Did
from protocol.records import RecordId
from registry.designs import MAX_ANCESTORS, Design

__all__ = [
    "DesignQuery",
    "DesignStore",
    "StoredDesign",
    "design_files",
    "design_parents",
    "design_terms",
    "designs",
]

designs = Table(
    "designs",
    metadata,
    Column("record_id", String(71), primary_key=True),
    Column("log_did", String(64), nullable=False),
    Column("idx", BigInteger, nullable=False),
    Column("author", String(64), nullable=False),
    Column("identity", String(64), nullable=False),
    Column("created", String(40), nullable=False),
    # When this node first stored it (ms since the epoch): the order of listings.
    Column("seen", BigInteger, nullable=False),
    Column("title", String(200), nullable=False),
    Column("license", String(64), nullable=False),
    Column("supersedes", String(71), nullable=True),
    # The body exactly as signed, as JSON.
    Column("body", Text, nullable=False),
    # Case-folded title, summary, description, tags, processes, materials, author names.
    Column("search_text", Text, nullable=False),
    Index("ix_designs_seen", "seen"),
    Index("ix_designs_log", "log_did", "idx"),
    Index("ix_designs_license", "license"),
    Index("ix_designs_supersedes", "supersedes"),
)

design_files = Table(
    "design_files",
    metadata,
    Column("record_id", String(71), primary_key=True),
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("name", String(255), nullable=False),
    Column("media_type", String(127), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("role", String(16), nullable=False),
    Column("units", String(8), nullable=True),
    Index("ix_design_files_sha256", "sha256"),
)

design_parents = Table(
    "design_parents",
    metadata,
    Column("record_id", String(71), primary_key=True),
    Column("parent_id", String(71), primary_key=True),
    Column("position", Integer, nullable=False),
    Index("ix_design_parents_parent", "parent_id"),
)

# kind: process, material, tag (case-folded) or author (an identity or an author's did).
design_terms = Table(
    "design_terms",
    metadata,
    Column("record_id", String(71), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("term", String(200), primary_key=True),
    Index("ix_design_terms_term", "kind", "term"),
)


@dataclass(frozen=True, slots=True)
class StoredDesign:
    """A verified design: where it was logged, who signed it, and its body."""

    log: Did
    index: int
    record_id: RecordId
    author: Did  # the key that signed the record
    identity: Did  # the identity that key speaks for in its log
    created: str
    design: Design


@dataclass(frozen=True, slots=True, kw_only=True)
class DesignQuery:
    """Search filters; every given filter must hold (specs/04-designs.md §7)."""

    words: tuple[str, ...] = ()
    processes: tuple[str, ...] = ()
    materials: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    license: str | None = None
    author: str | None = None
    cooperative: str | None = None
    limit: int = 20
    offset: int = 0


def _search_text(design: Design) -> str:
    parts = [
        design.title,
        design.summary,
        design.description,
        *design.tags,
        *design.processes,
        *design.materials,
        *(a.name for a in design.authors),
    ]
    return "\n".join(parts).casefold()


def _terms(record_id: str, entry: ProjectedEntry, design: Design) -> list[dict[str, Any]]:
    pairs = {("process", p) for p in design.processes}
    pairs |= {("material", m) for m in design.materials}
    pairs |= {("tag", t.casefold()[:200]) for t in design.tags}
    pairs |= {("author", d) for d in (entry.identity, entry.record.author, *design.author_dids())}
    return [{"record_id": record_id, "kind": k, "term": t} for k, t in sorted(pairs)]


@register_projector
async def project_designs(conn: AsyncConnection, entries: Sequence[ProjectedEntry]) -> None:
    """Store the designs among entries (inside the caller's transaction)."""
    found = [e for e in entries if isinstance(e.body, Design)]
    if not found:
        return
    ids = list({e.record_id for e in found})
    existing: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        result = await conn.execute(
            select(designs.c.record_id).where(designs.c.record_id.in_(chunk))
        )
        existing.update(r.record_id for r in result)
    seen_ms = int(time.time() * 1000)
    rows: list[dict[str, Any]] = []
    files: list[dict[str, Any]] = []
    parents: list[dict[str, Any]] = []
    terms: list[dict[str, Any]] = []
    for entry in found:
        if entry.record_id in existing:
            continue
        existing.add(entry.record_id)
        design = entry.body
        assert isinstance(design, Design)
        rows.append(
            {
                "record_id": entry.record_id,
                "log_did": entry.log,
                "idx": entry.index,
                "author": entry.record.author,
                "identity": entry.identity,
                "created": entry.record.created,
                "seen": seen_ms,
                "title": design.title,
                "license": design.license,
                "supersedes": design.supersedes,
                "body": json.dumps(entry.record.body, ensure_ascii=False, sort_keys=True),
                "search_text": _search_text(design),
            }
        )
        files.extend(
            {"record_id": entry.record_id, "position": i, **f.to_dict(), "units": f.units}
            for i, f in enumerate(design.files)
        )
        parents.extend(
            {"record_id": entry.record_id, "parent_id": p, "position": i}
            for i, p in enumerate(design.derived_from)
        )
        terms.extend(_terms(entry.record_id, entry, design))
    for table, values in (
        (designs, rows),
        (design_files, files),
        (design_parents, parents),
        (design_terms, terms),
    ):
        if values:
            await conn.execute(insert_ignore(conn, table), values)


def _stored(row: Any) -> StoredDesign:
    m = row._mapping
    return StoredDesign(
        log=Did(m["log_did"]),
        index=int(m["idx"]),
        record_id=RecordId(m["record_id"]),
        author=Did(m["author"]),
        identity=Did(m["identity"]),
        created=m["created"],
        design=Design.from_dict(json.loads(m["body"])),
    )


def _like_escape(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _has_term(kind: str, term: str) -> Any:
    return exists(
        select(design_terms.c.record_id).where(
            and_(
                design_terms.c.record_id == designs.c.record_id,
                design_terms.c.kind == kind,
                design_terms.c.term == term,
            )
        )
    )


class DesignStore:
    """Reads the design projection."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def get(self, design_id: str) -> StoredDesign | None:
        found = await self.get_many([design_id])
        return found.get(design_id)

    async def get_many(self, design_ids: Sequence[str]) -> dict[str, StoredDesign]:
        out: dict[str, StoredDesign] = {}
        ids = list(dict.fromkeys(design_ids))
        async with self.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                result = await conn.execute(
                    select(designs).where(designs.c.record_id.in_(ids[start : start + 500]))
                )
                for row in result:
                    stored = _stored(row)
                    out[stored.record_id] = stored
        return out

    async def closure(self, design_ids: Sequence[str]) -> dict[str, StoredDesign]:
        """The known designs among design_ids and all their ancestors (at most MAX_ANCESTORS)."""
        found: dict[str, StoredDesign] = {}
        asked: set[str] = set()
        frontier = list(dict.fromkeys(design_ids))
        budget = MAX_ANCESTORS + len(frontier)
        while frontier and len(asked) < budget:
            frontier = frontier[: budget - len(asked)]
            asked.update(frontier)
            batch = await self.get_many(frontier)
            found.update(batch)
            frontier = [
                parent
                for stored in batch.values()
                for parent in stored.design.derived_from
                if parent not in asked
            ]
            frontier = list(dict.fromkeys(frontier))
        return found

    async def ancestors(self, design_id: str) -> list[StoredDesign]:
        """Known ancestors through derived_from, nearest first (breadth first)."""
        known = await self.closure([design_id])
        root = known.get(design_id)
        if root is None:
            return []
        out: list[StoredDesign] = []
        seen = {design_id}
        level: list[str] = list(root.design.derived_from)
        while level and len(out) < MAX_ANCESTORS:
            following: list[str] = []
            for current in level:
                if current in seen:
                    continue
                seen.add(current)
                stored = known.get(current)
                if stored is not None:
                    out.append(stored)
                    following.extend(stored.design.derived_from)
            level = following
        return out[:MAX_ANCESTORS]

    async def derivatives(self, design_id: str, limit: int = 100) -> list[RecordId]:
        """Designs that name design_id in derived_from (direct children only)."""
        async with self.engine.connect() as conn:
            result = await conn.execute(
                select(design_parents.c.record_id)
                .where(design_parents.c.parent_id == design_id)
                .order_by(design_parents.c.record_id)
                .limit(limit)
            )
            return [RecordId(r.record_id) for r in result]

    async def versions(self, design_id: str, limit: int = 100) -> tuple[list[str], list[str]]:
        """(older, newer): the supersedes chain back, nearest first; the versions that follow."""
        older: list[str] = []
        newer: list[str] = []
        async with self.engine.connect() as conn:
            current: str | None = design_id
            seen = {design_id}
            while current is not None and len(older) < limit:
                row = (
                    await conn.execute(select(designs.c.body).where(designs.c.record_id == current))
                ).first()
                previous = json.loads(row.body).get("supersedes") if row is not None else None
                if not isinstance(previous, str) or previous in seen:
                    break
                older.append(previous)
                seen.add(previous)
                current = previous
            level = [design_id]
            while level and len(newer) < limit:
                result = await conn.execute(
                    select(designs.c.record_id)
                    .where(designs.c.supersedes.in_(level))
                    .order_by(designs.c.seen, designs.c.record_id)
                )
                level = [r.record_id for r in result if r.record_id not in seen]
                seen.update(level)
                newer.extend(level)
        return older, newer[:limit]

    def _filtered(self, query: DesignQuery) -> Select[Any]:
        stmt = select(designs)
        for word in query.words:
            stmt = stmt.where(
                designs.c.search_text.like(f"%{_like_escape(word.casefold())}%", escape="\\")
            )
        for kind, values in (
            ("process", query.processes),
            ("material", query.materials),
            ("tag", tuple(t.casefold() for t in query.tags)),
        ):
            for value in values:
                stmt = stmt.where(_has_term(kind, value))
        if query.author is not None:
            stmt = stmt.where(_has_term("author", query.author))
        if query.license is not None:
            stmt = stmt.where(designs.c.license == query.license)
        if query.cooperative is not None:
            stmt = stmt.where(designs.c.log_did == query.cooperative)
        return stmt

    async def search(self, query: DesignQuery) -> tuple[list[StoredDesign], int]:
        """One page of matching designs, newest first, and the number of matches."""
        stmt = self._filtered(query)
        async with self.engine.connect() as conn:
            total = (
                await conn.execute(select(func.count()).select_from(stmt.subquery()))
            ).scalar_one()
            result = await conn.execute(
                stmt.order_by(designs.c.seen.desc(), designs.c.log_did, designs.c.idx.desc())
                .limit(query.limit)
                .offset(query.offset)
            )
            return [_stored(r) for r in result], int(total)

    async def iter_matches(
        self, query: DesignQuery, batch: int = 200
    ) -> AsyncIterator[StoredDesign]:
        """Every match in listing order, fetched batch by batch (for filters SQL cannot apply)."""
        stmt = self._filtered(query).order_by(
            designs.c.seen.desc(), designs.c.log_did, designs.c.idx.desc()
        )
        offset = 0
        while True:
            async with self.engine.connect() as conn:
                rows = (await conn.execute(stmt.limit(batch).offset(offset))).all()
            for row in rows:
                yield _stored(row)
            if len(rows) < batch:
                return
            offset += batch

    async def design_files(self) -> list[tuple[str, int, str]]:
        """(sha256, size, log did) of every file of every design this node knows."""
        async with self.engine.connect() as conn:
            result = await conn.execute(
                select(design_files.c.sha256, design_files.c.size, designs.c.log_did)
                .join(designs, designs.c.record_id == design_files.c.record_id)
                .distinct()
            )
            return [(r.sha256, int(r.size), r.log_did) for r in result]

    async def analysis_thumbnails(self) -> list[tuple[str, str]]:
        """(sha256, log did) of the thumbnails named by every design analysis this node knows."""
        async with self.engine.connect() as conn:
            result = await conn.execute(
                select(design_analyses.c.thumbnail, design_analyses.c.log_did)
                .where(design_analyses.c.thumbnail.is_not(None))
                .distinct()
            )
            return [(r.thumbnail, r.log_did) for r in result]
