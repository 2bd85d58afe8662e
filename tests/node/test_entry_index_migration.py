"""Migration 0008 leaves `entries` with exactly the indexes schema.py declares, on both databases.

The migrated database is read back with SQLAlchemy's inspector and compared
with the declared table; downgrading to 0007 brings the two dropped indexes
back, and upgrading again drops them again. Entries stored before the
upgrade are still found by record id afterwards (uq_entries_record serves
that lookup).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from node.store.database import _alembic_config, migrate_sync
from node.store.schema import entries

DROPPED = {"ix_entries_type": ["log_did", "type"], "ix_entries_author": ["author"]}


def _run(url: str, work: Callable[[Any], Any]) -> Any:
    """`work(connection)` in one transaction of a fresh engine (the async drivers)."""

    async def go() -> Any:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                return await conn.run_sync(work)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _entry_indexes(url: str) -> dict[str, list[str | None]]:
    """Indexes of `entries`, without those backing a constraint (PostgreSQL lists those too)."""
    found: dict[str, list[str | None]] = _run(
        url,
        lambda c: {
            i["name"]: i["column_names"]
            for i in inspect(c).get_indexes("entries")
            if not i.get("duplicates_constraint")
        },
    )
    return found


def _declared() -> dict[str, list[str | None]]:
    return {i.name: [c.name for c in i.columns] for i in entries.indexes if i.name}


def _check(url: str) -> None:
    migrate_sync(url)
    found = _entry_indexes(url)
    assert found == _declared()
    assert not set(DROPPED) & set(found)

    command.downgrade(_alembic_config(url), "0007")
    found = _entry_indexes(url)
    for name, columns in DROPPED.items():
        assert found[name] == columns
    # An entry stored under the old schema survives the upgrade and is found by id.
    _run(
        url,
        lambda c: c.execute(
            text(
                "INSERT INTO entries (log_did, idx, leaf, record_id, type, author, created) "
                "VALUES ('did:key:z6Mkx', 0, :leaf, :id, 'member.profile', 'did:key:z6Mky', "
                "'2026-11-27T00:00:00Z')"
            ),
            {"leaf": b"{}", "id": "sha256:" + "ab" * 32},
        ),
    )
    migrate_sync(url)
    assert _entry_indexes(url) == _declared()
    idx = _run(
        url,
        lambda c: c.execute(
            text("SELECT idx FROM entries WHERE log_did = 'did:key:z6Mkx' AND record_id = :id"),
            {"id": "sha256:" + "ab" * 32},
        ).scalar_one(),
    )
    assert idx == 0


def test_sqlite(tmp_path: Path) -> None:
    _check(f"sqlite+aiosqlite:///{tmp_path}/node.db")


def test_postgresql(pg_database: Callable[[], str]) -> None:
    _check(pg_database())
