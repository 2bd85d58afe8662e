"""Migration 0007 creates exactly the ledger tables node/store/ledger.py declares, and drops them.

The migrated database is read back with SQLAlchemy's inspector (plain
sqlite3 underneath) and compared with the declared tables column by column
and index by index.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, inspect

from node.store.database import _alembic_config, migrate_sync
from node.store.ledger import (
    ledger_confirms,
    ledger_contributions,
    ledger_distributions,
    ledger_parts,
    ledger_policies,
)

TABLES = (
    ledger_contributions,
    ledger_confirms,
    ledger_policies,
    ledger_distributions,
    ledger_parts,
)


def test_migration_matches_the_declared_tables_and_downgrades(tmp_path: Path) -> None:
    path = tmp_path / "node.db"
    url = f"sqlite+aiosqlite:///{path}"
    migrate_sync(url)
    engine = create_engine(f"sqlite:///{path}")
    try:
        inspector = inspect(engine)
        for table in TABLES:
            columns = {c["name"]: c for c in inspector.get_columns(table.name)}
            assert list(columns) == [c.name for c in table.columns], table.name
            for column in table.columns:
                found = columns[column.name]
                assert found["nullable"] == column.nullable, (table.name, column.name)
                assert (
                    type(found["type"])
                    .__name__.upper()
                    .startswith(str(column.type.compile(engine.dialect)).split("(")[0])
                ), (table.name, column.name, found["type"], column.type)
            primary = inspector.get_pk_constraint(table.name)["constrained_columns"]
            assert primary == [c.name for c in table.primary_key.columns], table.name
            indexes = {i["name"]: i["column_names"] for i in inspector.get_indexes(table.name)}
            assert indexes == {i.name: [c.name for c in i.columns] for i in table.indexes}, (
                table.name
            )
    finally:
        engine.dispose()
    command.downgrade(_alembic_config(url), "0006")
    engine = create_engine(f"sqlite:///{path}")
    try:
        names = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert names.isdisjoint(t.name for t in TABLES)
    assert "entries" in names
