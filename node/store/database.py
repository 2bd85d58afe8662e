"""Engine creation for SQLite (aiosqlite, WAL) and PostgreSQL (asyncpg), and migrations."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql.dml import Insert

__all__ = ["create_engine", "insert_ignore", "is_postgres", "migrate", "migrate_sync"]

logger = logging.getLogger(__name__)
_MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def is_postgres(url: str) -> bool:
    return url.startswith("postgresql")


def insert_ignore(conn: AsyncConnection, table: Table) -> Insert:
    """INSERT that skips rows whose key is stored already, in the connection's dialect.

    For projections: two transactions may store the same entry at once (an
    own append and a peer's sync); a duplicate is not an error and must not
    abort the log's commit.
    """
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement: Insert = dialect.insert(table).on_conflict_do_nothing()
    return statement


def create_engine(url: str) -> AsyncEngine:
    """An async engine; SQLite gets WAL, a busy timeout and foreign keys per connection."""
    if is_postgres(url):
        return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)
    engine = create_async_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL lets readers proceed while the single writer commits; FULL
        # synchronous makes every acknowledged commit survive power loss too.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


def _alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate_sync(url: str) -> None:
    """Bring the database to the newest schema (runs Alembic's env.py)."""
    command.upgrade(_alembic_config(url), "head")


async def migrate(url: str) -> None:
    """Run the migrations in a worker thread (Alembic's async env runs its own loop)."""
    await asyncio.to_thread(migrate_sync, url)
