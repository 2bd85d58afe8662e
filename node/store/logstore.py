"""Reading and appending logs in the database.

`append_batch` is the one place a log grows: in one transaction it takes the
log's append lock (PostgreSQL: a transaction-scoped advisory lock; SQLite: the
database's single writer), re-reads the log head, authorises each record
against the stored authority state, writes entries and the Merkle hashes they
complete, signs one checkpoint for the batch, and moves the head.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from node.projections import ProjectedEntry, project
from node.store.database import is_postgres
from node.store.schema import blobs, checkpoints, entries, logs, tree_hashes
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

    async def _lock(self, conn: AsyncConnection, did: str) -> None:
        if self.postgres:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_key(did)})
        else:
            # Take SQLite's write lock now, so the head we read cannot change
            # under us (another process would wait on busy_timeout).
            await conn.execute(update(logs).where(logs.c.did == did).values(did=logs.c.did))

    @staticmethod
    def _row(row: object) -> LogRow:
        m = row._mapping  # type: ignore[attr-defined]
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
            await self._lock(conn, did)
            row = (await conn.execute(select(logs).where(logs.c.did == did))).first()
            if row is None:
                raise LookupError(f"no log {did}")
            head = self._row(row)
            ids = list({item.record_id for item in items})
            known: dict[str, int] = {}
            for chunk_start in range(0, len(ids), 500):
                chunk = ids[chunk_start : chunk_start + 500]
                result = await conn.execute(
                    select(entries.c.record_id, entries.c.idx).where(
                        entries.c.log_did == did, entries.c.record_id.in_(chunk)
                    )
                )
                known.update({r.record_id: int(r.idx) for r in result})
            authority = head.authority.copy()
            frontier = head.frontier.copy()
            entry_rows: list[dict[str, object]] = []
            hash_rows: list[dict[str, object]] = []
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
                    hash_rows.append({"log_did": did, "level": level, "idx": sub_index, "hash": h})
                entry_rows.append(
                    {
                        "log_did": did,
                        "idx": index,
                        "leaf": item.leaf,
                        "record_id": item.record_id,
                        "type": item.record.type,
                        "author": item.record.author,
                        "created": item.record.created,
                    }
                )
                known[item.record_id] = index
                outcomes.append(AppendOutcome(index=index, created=True))
            if not entry_rows:
                return outcomes, head
            await conn.execute(insert(entries), entry_rows)
            await conn.execute(insert(tree_hashes), hash_rows)
            await project(conn, projected)
            new_root = frontier.root()
            note = sign(Checkpoint(head.origin, frontier.size, new_root))
            await conn.execute(
                insert(checkpoints).values(
                    log_did=did, size=frontier.size, root=new_root, note=note
                )
            )
            await conn.execute(
                update(logs)
                .where(logs.c.did == did)
                .values(
                    size=frontier.size,
                    root=new_root,
                    frontier=frontier.to_bytes(),
                    authority=json.dumps(authority.to_dict()),
                    checkpoint=note,
                )
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
        async with self.engine.begin() as conn:
            await self._lock(conn, did)
            current = (
                await conn.execute(select(logs.c.size).where(logs.c.did == did))
            ).scalar_one_or_none()
            if current != expected_size:
                return False
            if entries_in_order:
                await conn.execute(
                    insert(entries),
                    [
                        {
                            "log_did": did,
                            "idx": e.index,
                            "leaf": leaf,
                            "record_id": e.record_id,
                            "type": e.record.type,
                            "author": e.record.author,
                            "created": e.record.created,
                        }
                        for leaf, e in entries_in_order
                    ],
                )
                await conn.execute(
                    insert(tree_hashes),
                    [
                        {"log_did": did, "level": level, "idx": index, "hash": h}
                        for level, index, h in subtree_hashes
                    ],
                )
                await project(conn, [e for _, e in entries_in_order])
            values: dict[str, object] = {
                "size": frontier.size,
                "root": frontier.root(),
                "frontier": frontier.to_bytes(),
                "authority": json.dumps(authority.to_dict()),
            }
            if checkpoint is not None:
                size, root, note = checkpoint
                if size != frontier.size or root != frontier.root():
                    raise ValueError("checkpoint does not describe the stored head")
                values["checkpoint"] = note
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
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(entries.c.idx, entries.c.leaf).where(
                        entries.c.log_did == did, entries.c.record_id == record_id
                    )
                )
            ).first()
        return None if row is None else (int(row.idx), bytes(row.leaf))

    async def read_hashes(self, did: str, ids: Sequence[SubtreeId]) -> list[bytes]:
        """Stored subtree hashes in the order asked. Raises LookupError if one is missing.

        One statement of primary-key point lookups joined by UNION ALL: the cost
        of a proof is per statement, and an OR of pairs would make SQLite scan.
        """
        if not ids:
            return []
        unique = list(dict.fromkeys(ids))
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
        found = {unique[int(r.k)]: bytes(r.hash) for r in rows}
        missing = set(unique) - found.keys()
        if missing:
            raise LookupError(f"missing stored hashes {sorted(missing)[:3]}")
        return [found[sid] for sid in ids]

    async def size_of(self, did: str) -> tuple[int, bool] | None:
        """(verified size, is_local) of a log, without reading its whole head."""
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

    async def checkpoint_at(self, did: str, size: int) -> bytes | None:
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
