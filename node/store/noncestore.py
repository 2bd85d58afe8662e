"""The replay cache of signed requests, kept in a database (specs/08-node-api.md §2.3).

Kept in a database, not in memory, so that a restart forgets nothing.
PostgreSQL: the `nonces` table of the node's database, shared by every worker
process. SQLite: a file of its own beside the node's database, written through
a plain sqlite3 connection: one upsert of a few tens of microseconds that
never waits for, or holds up, SQLite's single writer of the log. Neither
waits for the disk: a process crash loses nothing (the OS still holds the
write), and a power loss could only reopen the window for requests that are
idempotent anyway.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from node.store.database import is_postgres
from node.store.schema import nonces

__all__ = ["DatabaseNonceCache"]

# Expired rows are swept at most this often rather than on every request.
_PURGE_EVERY_S = 30
_UPSERT = (
    "INSERT INTO nonces (keyid, nonce, expires) VALUES (:keyid, :nonce, :expires) "
    "ON CONFLICT (keyid, nonce) DO UPDATE SET expires = excluded.expires "
    "WHERE nonces.expires < :now RETURNING 1"
)
_CREATE = (
    "CREATE TABLE IF NOT EXISTS nonces (keyid VARCHAR(64) NOT NULL, nonce VARCHAR(128) NOT NULL,"
    " expires BIGINT NOT NULL, PRIMARY KEY (keyid, nonce))"
)


class DatabaseNonceCache:
    """The node's replay cache; see the module docstring for where it lives."""

    def __init__(self, url: str, sqlite_path: Path | None = None) -> None:
        self._engine: AsyncEngine | None = None
        self._sqlite: sqlite3.Connection | None = None
        self._sqlite_path = sqlite_path
        if is_postgres(url):
            self._engine = create_async_engine(url, pool_size=5, max_overflow=5)
        elif sqlite_path is None:
            raise ValueError("a SQLite node keeps its nonce cache in a file of its own")
        self._purged_at = 0

    async def open(self) -> None:
        if self._sqlite_path is not None and self._engine is None:
            connection = sqlite3.connect(self._sqlite_path, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=OFF")
            connection.execute("PRAGMA busy_timeout=5000")
            connection.execute(_CREATE)
            self._sqlite = connection

    async def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None
        if self._engine is not None:
            await self._engine.dispose()

    async def remember(
        self, keyid: str, nonce: str, *, created: int, expires: int, now: int
    ) -> bool:
        """Record a nonce; False if it was seen before and has not expired.

        One upsert: a new pair, or one whose earlier use expired, is written
        and returned; a live pair makes the statement return nothing.
        """
        params = {"keyid": keyid, "nonce": nonce, "expires": expires, "now": now}
        purge = now - self._purged_at >= _PURGE_EVERY_S
        if purge:
            self._purged_at = now
        if self._sqlite is not None:
            if purge:
                self._sqlite.execute("DELETE FROM nonces WHERE expires < ?", (now,))
            return self._sqlite.execute(_UPSERT, params).fetchone() is not None
        assert self._engine is not None, "nonce cache not opened"
        async with self._engine.begin() as conn:
            await conn.execute(text("SET LOCAL synchronous_commit = off"))
            if purge:
                await conn.execute(delete(nonces).where(nonces.c.expires < now))
            row = (await conn.execute(text(_UPSERT), params)).first()
        return row is not None
