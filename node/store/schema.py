"""The database schema (SQLAlchemy Core). Alembic migrations in node/migrations create it.

Every log the node knows (its own and, later, the logs it follows) shares
these tables, keyed by the log's did.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = ["blobs", "checkpoints", "entries", "logs", "metadata", "nonces", "tree_hashes"]

metadata = MetaData()

logs = Table(
    "logs",
    metadata,
    Column("did", String(64), primary_key=True),
    Column("origin", String(200), nullable=False),
    Column("vkey", String(300), nullable=False),
    Column("is_local", Boolean, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("frontier", LargeBinary, nullable=False),
    # protocol.authority.LogAuthority.to_dict() at `size`, as JSON text.
    Column("authority", Text, nullable=False),
    Column("checkpoint", LargeBinary, nullable=False),
)

entries = Table(
    "entries",
    metadata,
    Column("log_did", String(64), primary_key=True),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("leaf", LargeBinary, nullable=False),
    Column("record_id", String(71), nullable=False),
    Column("type", String(64), nullable=False),
    Column("author", String(64), nullable=False),
    Column("created", String(40), nullable=False),
    UniqueConstraint("log_did", "record_id", name="uq_entries_record"),
    Index("ix_entries_type", "log_did", "type"),
    Index("ix_entries_author", "author"),
)

tree_hashes = Table(
    "tree_hashes",
    metadata,
    Column("log_did", String(64), primary_key=True),
    Column("level", SmallInteger, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("log_did", String(64), primary_key=True),
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("note", LargeBinary, nullable=False),
)

nonces = Table(
    "nonces",
    metadata,
    Column("keyid", String(64), primary_key=True),
    Column("nonce", String(128), primary_key=True),
    Column("expires", BigInteger, nullable=False),
    Index("ix_nonces_expires", "expires"),
)

blobs = Table(
    "blobs",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("uploader", String(64), nullable=False),
    Column("created", Integer, nullable=False),
)
