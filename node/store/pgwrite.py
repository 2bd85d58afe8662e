"""The group commit's own statements on PostgreSQL, through asyncpg itself.

Each statement through SQLAlchemy costs a few tenths of a millisecond of
CPU in this process and one round trip to the server; a group commit made
ten. After SQLAlchemy has begun the transaction and taken the append lock,
`LogStore.append_batch` reads the head and the known record ids with two
plain asyncpg queries and writes entries, subtree hashes, checkpoint and
head in one statement (data-modifying WITH clauses over unnested arrays).
SQLAlchemy commits or rolls back, and projections run through it in the
same transaction (specs/08-node-api.md §7.1).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["driver", "known_ids", "read_head", "store_batch"]

HEAD_COLUMNS = (
    "did", "origin", "vkey", "is_local", "size", "root", "frontier", "authority", "checkpoint",
)  # fmt: skip

_STORE_BATCH = """
WITH new_entries AS (
    INSERT INTO entries (log_did, idx, leaf, record_id, type, author, created)
    SELECT $1::varchar, * FROM unnest(
        $2::bigint[], $3::bytea[], $4::varchar[], $5::varchar[], $6::varchar[], $7::varchar[]
    )
), new_hashes AS (
    INSERT INTO tree_hashes (log_did, level, idx, hash)
    SELECT $1::varchar, * FROM unnest($8::smallint[], $9::bigint[], $10::bytea[])
), new_checkpoint AS (
    INSERT INTO checkpoints (log_did, size, root, note) VALUES ($1::varchar, $11, $12, $13)
)
UPDATE logs SET size = $11, root = $12, frontier = $14, authority = $15, checkpoint = $13
WHERE did = $1::varchar
"""


async def driver(conn: AsyncConnection) -> Any:
    """The asyncpg connection under this SQLAlchemy connection."""
    raw = await conn.get_raw_connection()
    return raw.driver_connection


async def read_head(drv: Any, did: str) -> dict[str, Any] | None:
    """The log's head row (read after the append lock, so it cannot change under us)."""
    row = await drv.fetchrow(
        f"SELECT {', '.join(HEAD_COLUMNS)} FROM logs WHERE did = $1",  # noqa: S608
        did,
    )
    return None if row is None else dict(row)


async def known_ids(drv: Any, did: str, record_ids: Sequence[str]) -> dict[str, int]:
    """record id → index of those of `record_ids` already in the log."""
    rows = await drv.fetch(
        "SELECT record_id, idx FROM entries WHERE log_did = $1 AND record_id = ANY($2::varchar[])",
        did,
        list(record_ids),
    )
    return {r["record_id"]: int(r["idx"]) for r in rows}


async def store_batch(
    drv: Any,
    did: str,
    entry_rows: Sequence[tuple[Any, ...]],
    hash_rows: Sequence[tuple[Any, ...]],
    head: tuple[int, bytes, bytes, str, bytes],
) -> None:
    """Insert entries and hashes, store the checkpoint, move the head: one statement.

    Rows are those of append_batch: entries (log_did, idx, leaf, record_id,
    type, author, created), hashes (log_did, level, idx, hash); head is
    (size, root, frontier, authority JSON, checkpoint note).
    """
    size, root, frontier, authority, note = head
    _, idx, leaf, record_id, rtype, author, created = zip(*entry_rows, strict=True)
    _, level, hidx, digest = zip(*hash_rows, strict=True) if hash_rows else ((), (), (), ())
    await drv.execute(
        _STORE_BATCH,
        did,
        list(idx),
        list(leaf),
        list(record_id),
        list(rtype),
        list(author),
        list(created),
        list(level),
        list(hidx),
        list(digest),
        size,
        root,
        note,
        frontier,
        authority,
    )
