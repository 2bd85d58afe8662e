"""The group commit's own statements on SQLite, one trip to the database thread each.

SQLAlchemy's aiosqlite adapter makes three or four trips to aiosqlite's
thread per statement (cursor, execute, fetch, close), each about 0.05 to
0.1 ms of CPU; a group commit made about 27 of them. These helpers run the
statements of `LogStore.append_batch` through the aiosqlite connection
under the same SQLAlchemy transaction (the sqlite3 module opens it before
the first write, and SQLAlchemy commits or rolls it back), one trip each.
Projections keep running through SQLAlchemy, in the same transaction
(specs/08-node-api.md §7.1).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["driver", "insert_rows", "known_ids", "lock_and_read_head", "store_head"]

# SQLite's smallest limit on bound variables per statement (before 3.32).
_MAX_VARIABLES = 999
HEAD_COLUMNS = (
    "did",
    "origin",
    "vkey",
    "is_local",
    "size",
    "root",
    "frontier",
    "authority",
    "checkpoint",
)


async def driver(conn: AsyncConnection) -> Any:
    """The aiosqlite connection under this SQLAlchemy connection."""
    raw = await conn.get_raw_connection()
    return raw.driver_connection


async def lock_and_read_head(drv: Any, did: str) -> dict[str, Any] | None:
    """Take SQLite's write lock and read the log's head, in one statement.

    An update of the log's own row that changes nothing takes the single
    write lock (specs/08-node-api.md §7.2) before the head is read, so the
    head cannot change under the batch.
    """
    rows = await drv.execute_fetchall(
        f"UPDATE logs SET did = did WHERE did = ? RETURNING {', '.join(HEAD_COLUMNS)}",  # noqa: S608
        (did,),
    )
    if not drv.in_transaction:
        # The sqlite3 module must have opened the transaction SQLAlchemy commits.
        raise RuntimeError("the append lock was taken outside a transaction")
    return dict(zip(HEAD_COLUMNS, rows[0], strict=True)) if rows else None


async def known_ids(drv: Any, did: str, record_ids: Sequence[str]) -> dict[str, int]:
    """record id → index of those of `record_ids` already in the log."""
    known: dict[str, int] = {}
    per = _MAX_VARIABLES - 1
    for at in range(0, len(record_ids), per):
        chunk = record_ids[at : at + per]
        marks = ", ".join("?" * len(chunk))
        rows = await drv.execute_fetchall(
            f"SELECT record_id, idx FROM entries WHERE log_did = ? AND record_id IN ({marks})",  # noqa: S608
            (did, *chunk),
        )
        known.update({rid: int(idx) for rid, idx in rows})
    return known


@lru_cache(maxsize=64)
def _insert_sql(table: str, columns: tuple[str, ...], rows: int) -> str:
    row = "(" + ", ".join("?" * len(columns)) + ")"
    # Only fixed names are formatted in; every value is a bound parameter.
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([row] * rows)}"  # noqa: S608


async def insert_rows(
    drv: Any, table: str, columns: tuple[str, ...], rows: Sequence[tuple[object, ...]]
) -> None:
    """Insert plain tuples, as many rows per statement as SQLite's variables allow."""
    per = _MAX_VARIABLES // len(columns)
    for at in range(0, len(rows), per):
        chunk = rows[at : at + per]
        flat = tuple(value for row in chunk for value in row)
        await drv.execute_fetchall(_insert_sql(table, columns, len(chunk)), flat)


async def store_head(
    drv: Any, did: str, size: int, root: bytes, frontier: bytes, authority: str, note: bytes
) -> None:
    """Store the batch's checkpoint and move the log's head to it."""
    await drv.execute_fetchall(
        "INSERT INTO checkpoints (log_did, size, root, note) VALUES (?, ?, ?, ?)",
        (did, size, root, note),
    )
    await drv.execute_fetchall(
        "UPDATE logs SET size = ?, root = ?, frontier = ?, authority = ?, checkpoint = ? "
        "WHERE did = ?",
        (size, root, frontier, authority, note, did),
    )
