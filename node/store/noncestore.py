"""The replay cache of signed requests, kept in a database (specs/08-node-api.md §2.3).

Kept in a database, not in memory, so that a restart forgets nothing.
PostgreSQL: the `nonces` table of the node's database, shared by every worker
process, through a small pool of its own; the requests waiting at one moment
share one autocommitted statement, so that a nonce costs a fraction of a
round trip. SQLite: a file of its own beside the node's database, written through
a plain sqlite3 connection: one upsert of a few tens of microseconds that
never waits for, or holds up, SQLite's single writer of the log. Neither
waits for the disk: a process crash loses nothing (the OS still holds the
write), and a power loss could only reopen the window for requests that are
idempotent anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
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
# PostgreSQL: many pairs in one statement; it returns those it wrote.
_UPSERT_MANY = text(
    "INSERT INTO nonces (keyid, nonce, expires) "
    "SELECT * FROM unnest(CAST(:keyids AS VARCHAR[]), CAST(:nonces AS VARCHAR[]),"
    " CAST(:expires AS BIGINT[])) "
    "ON CONFLICT (keyid, nonce) DO UPDATE SET expires = excluded.expires "
    "WHERE nonces.expires < :now RETURNING keyid, nonce"
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
            # Autocommit and synchronous_commit=off on every connection: a
            # round of nonces is one statement, one round trip. One round is
            # in flight at a time, so two connections are plenty.
            self._engine = create_async_engine(
                url,
                pool_size=2,
                max_overflow=0,
                isolation_level="AUTOCOMMIT",
                connect_args={"server_settings": {"synchronous_commit": "off"}},
            )
        elif sqlite_path is None:
            raise ValueError("a SQLite node keeps its nonce cache in a file of its own")
        self._purged_at = 0
        self._waiting: list[tuple[str, str, int, int, asyncio.Future[bool]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def open(self) -> None:
        if self._sqlite_path is not None and self._engine is None:
            connection = sqlite3.connect(self._sqlite_path, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=OFF")
            connection.execute("PRAGMA busy_timeout=5000")
            connection.execute(_CREATE)
            self._sqlite = connection

    async def close(self) -> None:
        if self._flusher is not None:
            with contextlib.suppress(Exception):
                await self._flusher
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
        # PostgreSQL: the requests waiting at one moment share one statement.
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((keyid, nonce, expires, now, answer))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="nonce-cache")
        return await answer

    async def _flush(self) -> None:
        """Upsert every waiting nonce, one statement per round, until none waits.

        A pair twice in one round: the first is written, the second is a
        replay. An error fails that round's requests, not later ones.
        """
        assert self._engine is not None
        while self._waiting:
            batch, self._waiting = self._waiting, []
            first: dict[tuple[str, str], int] = {}
            for n, (keyid, nonce, _, _, _) in enumerate(batch):
                first.setdefault((keyid, nonce), n)
            rows = [batch[n] for n in first.values()]
            now = min(row[3] for row in batch)
            purge = now - self._purged_at >= _PURGE_EVERY_S
            try:
                async with self._engine.connect() as conn:
                    if purge:
                        self._purged_at = now
                        await conn.execute(delete(nonces).where(nonces.c.expires < now))
                    result = await conn.execute(
                        _UPSERT_MANY,
                        {
                            "keyids": [r[0] for r in rows],
                            "nonces": [r[1] for r in rows],
                            "expires": [r[2] for r in rows],
                            "now": now,
                        },
                    )
                    accepted = {(r.keyid, r.nonce) for r in result}
            except Exception as exc:
                for *_, answer in batch:
                    if not answer.done():
                        answer.set_exception(exc)
                continue
            for n, (keyid, nonce, _, _, answer) in enumerate(batch):
                if not answer.done():
                    answer.set_result(first[keyid, nonce] == n and (keyid, nonce) in accepted)
