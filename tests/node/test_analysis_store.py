"""Migration 0004 creates exactly the tables node/store/analyses.py declares."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from node.store.analyses import analysis_checks, analysis_tasks, design_analyses
from node.store.database import migrate_sync


@pytest.mark.parametrize("table", [design_analyses, analysis_tasks, analysis_checks], ids=str)
def test_migration_matches_the_declared_table(tmp_path: Path, table) -> None:
    path = tmp_path / "node.db"
    migrate_sync(f"sqlite+aiosqlite:///{path}")
    engine = create_engine(f"sqlite:///{path}")
    try:
        inspector = inspect(engine)
        columns = {c["name"]: c for c in inspector.get_columns(table.name)}
        assert set(columns) == {c.name for c in table.columns}
        for column in table.columns:
            assert columns[column.name]["nullable"] == column.nullable, column.name
            declared = column.type.compile(dialect=engine.dialect)
            assert str(columns[column.name]["type"]) == declared, column.name
        primary = inspector.get_pk_constraint(table.name)["constrained_columns"]
        assert primary == [c.name for c in table.primary_key.columns]
        indexes = {i["name"]: i["column_names"] for i in inspector.get_indexes(table.name)}
        assert indexes == {i.name: [c.name for c in i.columns] for i in table.indexes}
    finally:
        engine.dispose()
