"""Point reads of SQLite logs outside the async driver (specs/08-node-api.md §7.4).

Through SQLAlchemy and aiosqlite, every statement is three or four hops to
the database thread and back, about 0.2 ms of CPU and 0.4 ms of latency
even for `SELECT 1`; the read itself takes microseconds. The reads a proof,
a checkpoint or a record lookup needs are a few primary-key lookups, so
they run here, synchronously in the event loop: in WAL mode a reader never
waits for the writer, and each statement is its own read transaction, so it
sees exactly what was committed before it, as the async path would.

Any sqlite3 error (a busy database, a missing table) raises ReadFailed, and
the caller takes its usual async path, which decides.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy.engine import make_url

__all__ = ["ReadFailed", "SQLiteReader"]

logger = logging.getLogger(__name__)

# WAL readers are only ever held up by recovery or a WAL reset: rare and
# short. Past this, the async path takes over rather than stall the loop.
_BUSY_TIMEOUT_MS = 50
# SQLite's smallest limit on bound variables per statement (before 3.32), 3 a lookup.
_LOOKUPS_PER_STATEMENT = 999 // 3
_HEAD_COLUMNS = "did, origin, vkey, is_local, size, root, frontier, authority, checkpoint"


class ReadFailed(Exception):
    """The plain connection could not answer; use the async path."""


class SQLiteReader:
    """A lazily opened, query-only sqlite3 connection to one database file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None

    @classmethod
    def for_url(cls, url: str) -> SQLiteReader | None:
        """A reader for a SQLite file URL; None for PostgreSQL or an in-memory database."""
        parsed = make_url(url)
        if not parsed.drivername.startswith("sqlite") or parsed.query:
            return None
        database = parsed.database
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        return cls(database)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            # Autocommit: each SELECT is its own read transaction.
            # check_same_thread=False: one store may be used from a test's
            # several event loops, never from two threads at once.
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA query_only=1")
            self._conn = conn
        return self._conn

    def _all(self, sql: str, params: Sequence[Any]) -> list[Any]:
        try:
            return self._connection().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            logger.debug("sqlite3 read failed (%s); taking the async path", exc)
            raise ReadFailed(str(exc)) from exc

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def head(self, did: str) -> dict[str, Any] | None:
        """The logs row of `did` as a column mapping, or None."""
        rows = self._all(f"SELECT {_HEAD_COLUMNS} FROM logs WHERE did = ?", (did,))  # noqa: S608
        return dict(zip(_HEAD_COLUMNS.split(", "), rows[0], strict=True)) if rows else None

    def size_of(self, did: str) -> tuple[int, bool] | None:
        """(size, is_local) of a log, or None."""
        rows = self._all("SELECT size, is_local FROM logs WHERE did = ?", (did,))
        return (int(rows[0][0]), bool(rows[0][1])) if rows else None

    def signed_head(self, did: str) -> tuple[int, bool, bytes] | None:
        """(size, is_local, checkpoint note) of a log, or None."""
        rows = self._all("SELECT size, is_local, checkpoint FROM logs WHERE did = ?", (did,))
        return (int(rows[0][0]), bool(rows[0][1]), bytes(rows[0][2])) if rows else None

    def hashes(self, did: str, ids: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """The stored hashes of those (level, index) subtrees that exist.

        Primary-key point lookups joined by UNION ALL (an OR of pairs would
        make SQLite scan), as many per statement as its variables allow.
        """
        found: dict[tuple[int, int], bytes] = {}
        for at in range(0, len(ids), _LOOKUPS_PER_STATEMENT):
            chunk = ids[at : at + _LOOKUPS_PER_STATEMENT]
            params: list[object] = []
            for level, index in chunk:
                params += (did, level, index)
            rows = self._all(_hashes_sql(len(chunk)), params)
            found.update({chunk[k]: bytes(h) for k, h in rows})
        return found

    def entry_by_id(self, did: str, record_id: str) -> tuple[int, bytes] | None:
        """(index, leaf) of a record, or None."""
        rows = self._all(
            "SELECT idx, leaf FROM entries WHERE log_did = ? AND record_id = ?", (did, record_id)
        )
        return (int(rows[0][0]), bytes(rows[0][1])) if rows else None

    def checkpoint_at(self, did: str, size: int) -> bytes | None:
        """The stored checkpoint note of a log at `size`, or None."""
        rows = self._all("SELECT note FROM checkpoints WHERE log_did = ? AND size = ?", (did, size))
        return bytes(rows[0][0]) if rows else None

    def cosignature_lines(self, log_did: str, size: int) -> list[str]:
        """The kept cosignature lines of a log's checkpoint at `size`, by witness name."""
        rows = self._all(
            "SELECT line FROM cosignatures WHERE log_did = ? AND size = ? ORDER BY witness_name",
            (log_did, size),
        )
        return [str(r[0]) for r in rows]


@lru_cache(maxsize=128)
def _hashes_sql(count: int) -> str:
    # Only the loop counter is formatted in; every value is a bound parameter.
    return " UNION ALL ".join(
        f"SELECT {n}, hash FROM tree_hashes WHERE log_did = ? AND level = ? AND idx = ?"  # noqa: S608
        for n in range(count)
    )
