"""Migration 0006 makes exactly the capacity and job tables the code declares, and undoes them.

The tables node/store/capacity.py and node/store/jobs.py declare (SQLAlchemy
metadata) are compared, column by column, with what Alembic's migration
created in a fresh SQLite database; downgrading to 0005 removes them and
upgrading again restores them.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command

from node.store.capacity import (
    capacity_version,
    machines,
    offers,
    workshop_owners,
    workshops,
)
from node.store.database import _alembic_config, migrate_sync
from node.store.jobs import job_events, jobs

TABLES = (workshops, workshop_owners, machines, offers, capacity_version, job_events, jobs)


def _shape(inspector: sa.Inspector, name: str) -> tuple[object, ...]:
    columns = {
        c["name"]: (type(c["type"]).__name__.lower(), bool(c["nullable"]))
        for c in inspector.get_columns(name)
    }
    primary = tuple(inspector.get_pk_constraint(name)["constrained_columns"])
    indexes = {i["name"]: tuple(i["column_names"]) for i in inspector.get_indexes(name)}
    return columns, primary, indexes


def _declared(table: sa.Table) -> tuple[object, ...]:
    columns = {}
    for column in table.columns:
        kind = type(column.type).__name__.lower()
        columns[column.name] = (kind, bool(column.nullable) and not column.primary_key)
    primary = tuple(c.name for c in table.primary_key.columns)
    indexes = {i.name: tuple(c.name for c in i.columns) for i in table.indexes}
    return columns, primary, indexes


def _normalise(shape: tuple[object, ...]) -> tuple[object, ...]:
    columns, primary, indexes = shape
    assert isinstance(columns, dict)
    # SQLite reports BIGINT for BigInteger and VARCHAR for String, and primary key
    # columns as nullable or not depending on type: compare names and kinds only.
    kinds = {
        "biginteger": "int",
        "bigint": "int",
        "integer": "int",
        "string": "str",
        "varchar": "str",
        "text": "text",
        "boolean": "bool",
    }
    cols = {name: (kinds.get(kind, kind), nullable) for name, (kind, nullable) in columns.items()}
    return cols, primary, indexes


def test_migration_0006_matches_the_declared_tables(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'node.db'}"
    migrate_sync(f"sqlite+aiosqlite:///{tmp_path / 'node.db'}")
    engine = sa.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        for table in TABLES:
            migrated = _normalise(_shape(inspector, table.name))
            declared = _normalise(_declared(table))
            # Primary key columns: SQLite reports them nullable unless declared NOT NULL.
            m_cols, m_pk, m_idx = migrated
            d_cols, d_pk, d_idx = declared
            assert m_pk == d_pk, table.name
            assert m_idx == d_idx, table.name
            assert set(m_cols) == set(d_cols), table.name  # type: ignore[arg-type]
            for name, (kind, nullable) in d_cols.items():  # type: ignore[attr-defined]
                assert m_cols[name][0] == kind, (table.name, name)  # type: ignore[index]
                if name not in d_pk:
                    assert m_cols[name][1] == nullable, (table.name, name)  # type: ignore[index]

        config = _alembic_config(f"sqlite+aiosqlite:///{tmp_path / 'node.db'}")
        command.downgrade(config, "0005")
        names = set(sa.inspect(engine).get_table_names())
        assert names.isdisjoint(t.name for t in TABLES)
        command.upgrade(config, "head")
        names = set(sa.inspect(engine).get_table_names())
        assert {t.name for t in TABLES} <= names
    finally:
        engine.dispose()
