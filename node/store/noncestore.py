"""The replay cache of signed requests, in the database (specs/08-node-api.md §2.3).

Kept in the database, not in memory, so that a restart forgets nothing and
every worker process sharing a PostgreSQL database shares it. Its commits do
not wait for the disk: a process crash loses nothing (the OS still holds the
write), and a power loss could only reopen the window for requests that are
idempotent anyway.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import delete, event, insert, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from node.store.database import is_postgres
from node.store.schema import nonces

__all__ = ["DatabaseNonceCache"]

# Expired rows are swept at most this often rather than on every request.
_PURGE_EVERY_S = 30


class DatabaseNonceCache:
    """PostgreSQL: the `nonces` table of the node's database. SQLite: a file of
    its own beside the node's database (`nonces.db`), so that these writes
    never wait for, or hold up, SQLite's single writer of the log."""

    def __init__(self, url: str, sqlite_path: Path | None = None) -> None:
        self._postgres = is_postgres(url)
        self._sqlite_path = sqlite_path
        if self._postgres:
            self.engine: AsyncEngine = create_async_engine(url, pool_size=5, max_overflow=5)
        else:
            if sqlite_path is None:
                raise ValueError("a SQLite node keeps its nonce cache in a file of its own")
            self.engine = create_async_engine(
                f"sqlite+aiosqlite:///{sqlite_path}", connect_args={"timeout": 30}
            )

            @event.listens_for(self.engine.sync_engine, "connect")
            def _pragmas(dbapi_connection: Any, _record: Any) -> None:
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                # Per connection: only this cache's commits skip the fsync.
                cursor.execute("PRAGMA synchronous=OFF")
                cursor.execute("PRAGMA busy_timeout=30000")
                cursor.close()

        self._purged_at = 0

    async def open(self) -> None:
        """Create the cache file's table (PostgreSQL's comes with the migrations)."""
        if not self._postgres:
            async with self.engine.begin() as conn:
                await conn.run_sync(nonces.create, checkfirst=True)

    async def close(self) -> None:
        await self.engine.dispose()

    async def remember(
        self, keyid: str, nonce: str, *, created: int, expires: int, now: int
    ) -> bool:
        """Record a nonce; False if it was seen before and has not expired."""
        async with self.engine.begin() as conn:
            if self._postgres:
                await conn.execute(text("SET LOCAL synchronous_commit = off"))
            if now - self._purged_at >= _PURGE_EVERY_S:
                self._purged_at = now
                await conn.execute(delete(nonces).where(nonces.c.expires < now))
            else:
                await conn.execute(
                    delete(nonces).where(
                        nonces.c.keyid == keyid, nonces.c.nonce == nonce, nonces.c.expires < now
                    )
                )
            try:
                async with conn.begin_nested():
                    await conn.execute(
                        insert(nonces).values(keyid=keyid, nonce=nonce, expires=expires)
                    )
            except IntegrityError:
                return False
        return True
