"""Reading and appending logs in the database.

`append_batch` is the one place a log grows: in one transaction it takes the
log's append lock (PostgreSQL: a transaction-scoped advisory lock; SQLite: the
database's single writer), re-reads the log head, authorises each record
against the stored authority state, writes entries and the Merkle hashes they
complete, signs one checkpoint for the batch, and moves the head.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import json
import logging
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from node.projections import ProjectedEntry, project
from node.store import pgwrite, sqlitewrite
from node.store.database import is_postgres
from node.store.schema import blobs, checkpoints, entries, logs, tree_hashes
from node.store.sqlitereader import ReadFailed, SQLiteReader
from protocol.authority import LogAuthority
from protocol.checkpoint import Checkpoint
from protocol.did import Did
from protocol.errors import ProtocolError
from protocol.merkle import (
    EMPTY_ROOT,
    Frontier,
    SubtreeId,
    consistency_proof,
    consistency_subtrees,
    inclusion_proof,
    inclusion_subtrees,
    leaf_hash,
    prefix_subtrees,
    subtree_hash,
)
from protocol.records import Record, RecordBody, RecordId

logger = logging.getLogger(__name__)

__all__ = ["AppendItem", "AppendOutcome", "LogRow", "LogStore"]


@dataclass(frozen=True, slots=True)
class LogRow:
    """The head of one log as stored."""

    did: Did
    origin: str
    vkey: str
    is_local: bool
    size: int
    root: bytes
    frontier: Frontier
    authority: LogAuthority
    checkpoint: bytes


@dataclass(frozen=True, slots=True)
class AppendItem:
    """A verified record waiting to be authorised and appended."""

    record: Record
    body: RecordBody
    leaf: bytes
    record_id: RecordId


@dataclass(frozen=True, slots=True)
class AppendOutcome:
    """What became of one item: its index, whether it is new, or why it was refused."""

    index: int | None = None
    created: bool = False
    error: ProtocolError | None = None


class _DictReader:
    def __init__(self, hashes: dict[SubtreeId, bytes]) -> None:
        self._hashes = hashes

    def read_hashes(self, ids: Sequence[SubtreeId]) -> Sequence[bytes]:
        return [self._hashes[i] for i in ids]


_ENTRY_COLUMNS = (
    entries.name,
    ("log_did", "idx", "leaf", "record_id", "type", "author", "created"),
)
_HASH_COLUMNS = (tree_hashes.name, ("log_did", "level", "idx", "hash"))


# SQLite's default limit on bound variables per statement: 32766 since 3.32,
# 999 before. Few, large statements matter (see _insert_rows).
_SQLITE_MAX_VARIABLES = 32766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999
_ROWS_PER_STATEMENT = 512


@functools.lru_cache(maxsize=64)
def _insert_sql(table: str, columns: tuple[str, ...], style: str, rows: int) -> str:
    """A driver-level INSERT of `rows` rows, in the driver's placeholder style."""
    if style == "qmark":
        row = "(" + ", ".join("?" * len(columns)) + ")"
        marks = ", ".join([row] * rows)
    elif style == "numeric_dollar" and rows == 1:
        marks = "(" + ", ".join(f"${n}" for n in range(1, len(columns) + 1)) + ")"
    else:
        raise NotImplementedError(f"placeholder style {style} for {rows} rows")
    # Only fixed names are formatted in; every value is a bound parameter.
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {marks}"  # noqa: S608


async def _insert_rows(
    conn: AsyncConnection,
    table_columns: tuple[str, tuple[str, ...]],
    rows: Sequence[tuple[object, ...]],
) -> None:
    """Insert plain tuples through the driver, skipping SQLAlchemy's per-row processing.

    SQLite gets hundreds of rows per statement, each statement in one trip
    to aiosqlite's thread (in the transaction SQLAlchemy opened): that
    thread gives up the GIL for each step of the engine and must take it
    back from the event loop's thread, which may be busy authorising the
    next batch (up to the 5 ms switch interval each time), so one step per
    hundreds of rows rather than one per row.
    PostgreSQL gets asyncpg's executemany, which pipelines the rows.
    """
    table, columns = table_columns
    style = conn.dialect.paramstyle
    if style != "qmark":
        await conn.exec_driver_sql(_insert_sql(table, columns, style, 1), list(rows))
        return
    driver: Any = (await conn.get_raw_connection()).driver_connection
    at = 0
    for count in _statement_sizes(len(rows), _SQLITE_MAX_VARIABLES // len(columns)):
        flat = tuple(itertools.chain.from_iterable(rows[at : at + count]))
        await driver.execute_fetchall(_insert_sql(table, columns, style, count), flat)
        at += count


def _statement_sizes(total: int, most: int) -> list[int]:
    """Rows per statement: full statements, then the rest in powers of two.

    The driver keeps every distinct statement it prepared (128 per
    connection), and one of thousands of rows takes megabytes: so only a
    few shapes, each at most _ROWS_PER_STATEMENT rows.
    """
    full = min(most, _ROWS_PER_STATEMENT)
    sizes = [full] * (total // full)
    rest = total % full
    while rest:
        part = 1 << (rest.bit_length() - 1)
        sizes.append(part)
        rest -= part
    return sizes


# Proof hashes kept in memory: subtrees of at least 2^8 leaves (an eighth of
# a percent of a log's hashes), at most 2^16 of them (some 15 MiB at most).
_CACHED_LEVEL = 8
_MAX_CACHED_HASHES = 1 << 16


def _lock_key(did: str) -> int:
    # A signed 64-bit advisory-lock key derived from the log's did.
    return int.from_bytes(hashlib.sha256(did.encode()).digest()[:8], "big", signed=True)


class LogStore:
    """Async access to logs, entries, hashes, checkpoints, nonces and blob records."""

    def __init__(self, engine: AsyncEngine) -> None:
        # Called (synchronously, so they must only enqueue) with each batch of
        # entries after its transaction has committed: own appends and synced
        # peer entries alike. Features use them to react (analyse a design,
        # close a proposal, share a completed job's value).
        self.listeners: list[Callable[[Sequence[ProjectedEntry]], None]] = []
        self.engine = engine
        self.postgres = is_postgres(str(engine.url))
        # SQLite: point reads skip the async driver (node/store/sqlitereader.py).
        self.reader = SQLiteReader.for_url(str(engine.url))
        # (did, level, index) -> hash of a complete subtree at level >= _CACHED_LEVEL.
        self._upper_hashes: dict[tuple[str, int, int], bytes] = {}

    async def _lock(self, conn: AsyncConnection, did: str) -> None:
        if self.postgres:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_key(did)})
        else:
            # Take SQLite's write lock now, so the head we read cannot change
            # under us (another process would wait on busy_timeout).
            await conn.execute(update(logs).where(logs.c.did == did).values(did=logs.c.did))

    @staticmethod
    def _row(row: object) -> LogRow:
        return LogStore._head_row(row._mapping)  # type: ignore[attr-defined]

    @staticmethod
    def _head_row(m: Mapping[str, Any]) -> LogRow:
        return LogRow(
            did=Did(m["did"]),
            origin=m["origin"],
            vkey=m["vkey"],
            is_local=bool(m["is_local"]),
            size=int(m["size"]),
            root=bytes(m["root"]),
            frontier=Frontier.from_bytes(bytes(m["frontier"])),
            authority=LogAuthority.from_dict(json.loads(m["authority"])),
            checkpoint=bytes(m["checkpoint"]),
        )

    async def create_log(
        self,
        *,
        did: Did,
        origin: str,
        vkey: str,
        is_local: bool,
        sign: Callable[[Checkpoint], bytes] | None,
    ) -> None:
        """Create an empty log row (idempotent). A local log gets a signed size-0 checkpoint."""
        async with self.engine.begin() as conn:
            if self.postgres:
                await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_key(did)})
            existing = await conn.execute(select(logs.c.did).where(logs.c.did == did))
            if existing.first() is not None:
                return
            note = sign(Checkpoint(origin, 0, EMPTY_ROOT)) if sign else b""
            await conn.execute(
                insert(logs).values(
                    did=did,
                    origin=origin,
                    vkey=vkey,
                    is_local=is_local,
                    size=0,
                    root=EMPTY_ROOT,
                    frontier=Frontier().to_bytes(),
                    authority=json.dumps(LogAuthority(node=did).to_dict()),
                    checkpoint=note,
                )
            )
            if note:
                await conn.execute(
                    insert(checkpoints).values(log_did=did, size=0, root=EMPTY_ROOT, note=note)
                )

    async def head(self, did: str) -> LogRow | None:
        if self.reader is not None:
            with contextlib.suppress(ReadFailed):
                found = self.reader.head(did)
                return None if found is None else self._head_row(found)
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(logs).where(logs.c.did == did))).first()
        return None if row is None else self._row(row)

    async def local_head(self) -> LogRow | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(logs).where(logs.c.is_local.is_(True)))).first()
        return None if row is None else self._row(row)

    async def append_batch(
        self,
        did: Did,
        items: Sequence[AppendItem],
        sign: Callable[[Checkpoint], bytes],
    ) -> tuple[list[AppendOutcome], LogRow]:
        """Authorise and append items in one transaction; return outcomes and the new head."""
        outcomes: list[AppendOutcome] = []
        async with self.engine.begin() as conn:
            # The batch's own statements go to the driver itself
            # (node/store/sqlitewrite.py, node/store/pgwrite.py).
            ids = list({item.record_id for item in items})
            if self.postgres:
                await self._lock(conn, did)  # through SQLAlchemy: it begins the transaction
                drv = await pgwrite.driver(conn)
                found = await pgwrite.read_head(drv, did)
                known = await pgwrite.known_ids(drv, did, ids) if found is not None else {}
            else:
                drv = await sqlitewrite.driver(conn)
                found = await sqlitewrite.lock_and_read_head(drv, did)
                known = await sqlitewrite.known_ids(drv, did, ids) if found is not None else {}
            if found is None:
                raise LookupError(f"no log {did}")
            head = self._head_row(found)
            authority = head.authority.copy()
            frontier = head.frontier.copy()
            # Plain tuples for the driver.
            entry_rows: list[tuple[object, ...]] = []
            hash_rows: list[tuple[object, ...]] = []
            projected: list[ProjectedEntry] = []
            for item in items:
                if item.record_id in known:
                    outcomes.append(AppendOutcome(index=known[item.record_id], created=False))
                    continue
                try:
                    admitted = authority.admit_verified(item.record, item.body)
                except ProtocolError as exc:
                    outcomes.append(AppendOutcome(error=exc))
                    continue
                index = frontier.size
                projected.append(
                    ProjectedEntry(
                        log=did,
                        index=index,
                        record_id=item.record_id,
                        record=item.record,
                        body=item.body,
                        identity=admitted.identity,
                    )
                )
                for level, sub_index, h in frontier.append(leaf_hash(item.leaf)):
                    hash_rows.append((did, level, sub_index, h))
                record = item.record
                entry_rows.append(
                    (
                        did,
                        index,
                        item.leaf,
                        item.record_id,
                        record.type,
                        record.author,
                        record.created,
                    )
                )
                known[item.record_id] = index
                outcomes.append(AppendOutcome(index=index, created=True))
            if not entry_rows:
                return outcomes, head
            new_root = frontier.root()
            note = sign(Checkpoint(head.origin, frontier.size, new_root))
            frontier_bytes = frontier.to_bytes()
            authority_json = json.dumps(authority.to_dict())
            if self.postgres:
                head_values = (frontier.size, new_root, frontier_bytes, authority_json, note)
                await pgwrite.store_batch(drv, did, entry_rows, hash_rows, head_values)
                await project(conn, projected)
            else:
                await sqlitewrite.insert_rows(drv, *_ENTRY_COLUMNS, entry_rows)
                await sqlitewrite.insert_rows(drv, *_HASH_COLUMNS, hash_rows)
                await project(conn, projected)
                await sqlitewrite.store_head(
                    drv, did, frontier.size, new_root, frontier_bytes, authority_json, note
                )
        self._notify(projected)
        new_head = LogRow(
            did=head.did,
            origin=head.origin,
            vkey=head.vkey,
            is_local=head.is_local,
            size=frontier.size,
            root=new_root,
            frontier=frontier,
            authority=authority,
            checkpoint=note,
        )
        return outcomes, new_head

    async def commit_synced(
        self,
        did: Did,
        *,
        expected_size: int,
        frontier: Frontier,
        authority: LogAuthority,
        entries_in_order: Sequence[tuple[bytes, ProjectedEntry]],
        subtree_hashes: Sequence[tuple[int, int, bytes]],
        checkpoint: tuple[int, bytes, bytes] | None,
    ) -> bool:
        """Store a verified batch of a followed log and move its head, in one transaction.

        `checkpoint` is (size, root, note) when the batch reaches a signed
        checkpoint. Returns False (storing nothing) if another process moved
        the head first.
        """
        # Plain tuples for the driver: SQLAlchemy's per-row parameter
        # processing cost more than the inserts themselves.
        entry_rows = [
            (did, e.index, leaf, e.record_id, e.record.type, e.record.author, e.record.created)
            for leaf, e in entries_in_order
        ]
        hash_rows = [(did, level, index, h) for level, index, h in subtree_hashes]
        new_root = frontier.root()
        values: dict[str, object] = {
            "size": frontier.size,
            "root": new_root,
            "frontier": frontier.to_bytes(),
            "authority": json.dumps(authority.to_dict()),
        }
        if checkpoint is not None:
            size, root, note = checkpoint
            if size != frontier.size or root != new_root:
                raise ValueError("checkpoint does not describe the stored head")
            values["checkpoint"] = note
        async with self.engine.begin() as conn:
            await self._lock(conn, did)
            current = (
                await conn.execute(select(logs.c.size).where(logs.c.did == did))
            ).scalar_one_or_none()
            if current != expected_size:
                return False
            if entry_rows:
                await _insert_rows(conn, _ENTRY_COLUMNS, entry_rows)
                await _insert_rows(conn, _HASH_COLUMNS, hash_rows)
                await project(conn, [e for _, e in entries_in_order])
            if checkpoint is not None:
                size, root, note = checkpoint
                existing = (
                    await conn.execute(
                        select(checkpoints.c.size).where(
                            checkpoints.c.log_did == did, checkpoints.c.size == size
                        )
                    )
                ).first()
                if existing is None:
                    await conn.execute(
                        insert(checkpoints).values(log_did=did, size=size, root=root, note=note)
                    )
            await conn.execute(update(logs).where(logs.c.did == did).values(**values))
        self._notify([e for _, e in entries_in_order])
        return True

    def _notify(self, committed: Sequence[ProjectedEntry]) -> None:
        if not committed:
            return
        for listener in self.listeners:
            try:
                listener(committed)
            except Exception:
                # A listener's bug must not undo or hide a committed write.
                logger.exception("commit listener %r failed", listener)

    async def all_logs(self) -> list[LogRow]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(logs))).all()
        return [self._row(r) for r in rows]

    async def leaves(self, did: str, start: int, end: int) -> list[bytes]:
        """Leaf bytes of entries [start, end) that exist, in order."""
        async with self.engine.connect() as conn:
            result = await conn.execute(
                select(entries.c.leaf)
                .where(entries.c.log_did == did, entries.c.idx >= start, entries.c.idx < end)
                .order_by(entries.c.idx)
            )
            return [bytes(r.leaf) for r in result]

    async def entry_by_id(self, did: str, record_id: str) -> tuple[int, bytes] | None:
        if self.reader is not None:
            with contextlib.suppress(ReadFailed):
                return self.reader.entry_by_id(did, record_id)
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(entries.c.idx, entries.c.leaf).where(
                        entries.c.log_did == did, entries.c.record_id == record_id
                    )
                )
            ).first()
        return None if row is None else (int(row.idx), bytes(row.leaf))

    async def stored_ids(
        self, did: str, record_ids: Sequence[str], *, before: int
    ) -> dict[str, int]:
        """record id → index of those of `record_ids` stored in log `did` below index `before`.

        Lookups on the (log, record id) unique index: a few statements per
        thousand ids, where a follower checks a batch against its stored prefix.
        """
        if not record_ids or before <= 0:
            return {}
        async with self.engine.connect() as conn:
            if self.postgres:
                found = await pgwrite.known_ids(await pgwrite.driver(conn), did, record_ids)
            else:
                found = await sqlitewrite.known_ids(await sqlitewrite.driver(conn), did, record_ids)
        return {rid: index for rid, index in found.items() if index < before}

    async def read_hashes(self, did: str, ids: Sequence[SubtreeId]) -> list[bytes]:
        """Stored subtree hashes in the order asked. Raises LookupError if one is missing.

        The hash of a complete subtree never changes once stored, so those of
        the upper levels (few: one per 2^8 leaves and fewer) are kept in
        memory after their first read; the rest are read with one statement
        of primary-key point lookups joined by UNION ALL (the cost of a proof
        is per statement, and an OR of pairs would make SQLite scan).
        """
        if not ids:
            return []
        found: dict[SubtreeId, bytes] = {}
        wanted: list[SubtreeId] = []
        for sid in dict.fromkeys(ids):
            cached = self._upper_hashes.get((did, *sid)) if sid[0] >= _CACHED_LEVEL else None
            if cached is None:
                wanted.append(sid)
            else:
                found[sid] = cached
        if wanted:
            read = await self._read_stored_hashes(did, wanted)
            found.update(read)
            for (level, index), h in read.items():
                if level >= _CACHED_LEVEL and len(self._upper_hashes) < _MAX_CACHED_HASHES:
                    self._upper_hashes[did, level, index] = h
        return self._in_order(ids, found)

    async def _read_stored_hashes(
        self, did: str, unique: Sequence[SubtreeId]
    ) -> dict[SubtreeId, bytes]:
        if self.reader is not None:
            with contextlib.suppress(ReadFailed):
                return self.reader.hashes(did, unique)
        # Only the loop counter is formatted in; every value is a bound parameter.
        sql = " UNION ALL ".join(
            f"SELECT {n} AS k, hash FROM tree_hashes "  # noqa: S608
            f"WHERE log_did = :did AND level = :l{n} AND idx = :i{n}"
            for n in range(len(unique))
        )
        params: dict[str, object] = {"did": did}
        for n, (level, index) in enumerate(unique):
            params[f"l{n}"] = level
            params[f"i{n}"] = index
        async with self.engine.connect() as conn:
            rows = (await conn.execute(text(sql), params)).all()
        return {unique[int(r.k)]: bytes(r.hash) for r in rows}

    @staticmethod
    def _in_order(ids: Sequence[SubtreeId], found: dict[SubtreeId, bytes]) -> list[bytes]:
        missing = set(ids) - found.keys()
        if missing:
            raise LookupError(f"missing stored hashes {sorted(missing)[:3]}")
        return [found[sid] for sid in ids]

    async def size_of(self, did: str) -> tuple[int, bool] | None:
        """(verified size, is_local) of a log, without reading its whole head."""
        if self.reader is not None:
            with contextlib.suppress(ReadFailed):
                return self.reader.size_of(did)
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(select(logs.c.size, logs.c.is_local).where(logs.c.did == did))
            ).first()
        return None if row is None else (int(row.size), bool(row.is_local))

    async def inclusion_proof(self, did: str, index: int, tree_size: int) -> list[bytes]:
        """RFC 9162 audit path from stored hashes (caller checks tree_size <= head size)."""
        ids = inclusion_subtrees(index, tree_size)
        hashes = await self.read_hashes(did, ids)
        return inclusion_proof(index, tree_size, _DictReader(dict(zip(ids, hashes, strict=True))))

    async def consistency_proof(self, did: str, old: int, new: int) -> list[bytes]:
        """RFC 9162 consistency proof from stored hashes (caller checks new <= head size)."""
        ids = consistency_subtrees(old, new)
        hashes = await self.read_hashes(did, ids)
        return consistency_proof(old, new, _DictReader(dict(zip(ids, hashes, strict=True))))

    async def prefix_root(self, did: str, size: int) -> bytes:
        """MTH of the first `size` stored leaves (size <= head size)."""
        if size == 0:
            return EMPTY_ROOT
        ids = prefix_subtrees(size)
        hashes = await self.read_hashes(did, ids)
        return subtree_hash(_DictReader(dict(zip(ids, hashes, strict=True))), 0, size)

    async def signed_head(self, did: str) -> tuple[int, bool, bytes] | None:
        """(verified size, is_local, latest checkpoint note) of a log, without its state."""
        if self.reader is not None:
            with contextlib.suppress(ReadFailed):
                return self.reader.signed_head(did)
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(logs.c.size, logs.c.is_local, logs.c.checkpoint).where(logs.c.did == did)
                )
            ).first()
        return None if row is None else (int(row.size), bool(row.is_local), bytes(row.checkpoint))

    async def checkpoint_at(self, did: str, size: int) -> bytes | None:
        if self.reader is not None:
            with contextlib.suppress(ReadFailed):
                return self.reader.checkpoint_at(did, size)
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(checkpoints.c.note).where(
                        checkpoints.c.log_did == did, checkpoints.c.size == size
                    )
                )
            ).first()
        return None if row is None else bytes(row.note)

    async def record_blob(self, sha256_hex: str, size: int, uploader: str, now: int) -> None:
        async with self.engine.begin() as conn:
            exists = (
                await conn.execute(select(blobs.c.sha256).where(blobs.c.sha256 == sha256_hex))
            ).first()
            if exists is None:
                await conn.execute(
                    insert(blobs).values(
                        sha256=sha256_hex, size=size, uploader=uploader, created=now
                    )
                )
