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

__all__ = [
    "blobs",
    "checkpoints",
    "cosignatures",
    "entries",
    "evidence",
    "inbox",
    "logs",
    "metadata",
    "nonces",
    "outbox",
    "peers",
    "tree_hashes",
]

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
    # Every lookup goes by (log_did, idx) or (log_did, record_id); migration
    # 0008 dropped the indexes on type and author, which nothing read.
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
    Column("created", BigInteger, nullable=False),
)

# Federation (migration 0002).

peers = Table(
    "peers",
    metadata,
    Column("did", String(64), primary_key=True),
    Column("url", String(2000), nullable=False),
    Column("origin", String(200), nullable=False),
    Column("vkey", String(300), nullable=False),
    Column("name", String(200), nullable=False),
    # ok, syncing, unreachable, equivocating, invalid, blocked
    Column("state", String(16), nullable=False),
    Column("detail", Text, nullable=False),
    Column("last_success", BigInteger, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("added", BigInteger, nullable=False),
    Column("fetched_entries", BigInteger, nullable=False),
)

cosignatures = Table(
    "cosignatures",
    metadata,
    Column("log_did", String(64), primary_key=True),
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("witness_key", LargeBinary(32), primary_key=True),
    Column("witness_name", String(200), nullable=False),
    Column("line", Text, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
)

evidence = Table(
    "evidence",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("log_did", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("body", Text, nullable=False),
    Column("found", BigInteger, nullable=False),
    Index("ix_evidence_log", "log_did"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("peer_did", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt", BigInteger, nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("last_error", Text, nullable=True),
    Index("ix_outbox_due", "next_attempt"),
)

inbox = Table(
    "inbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sender", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("record_id", String(71), nullable=True),
    Column("payload", LargeBinary, nullable=False),
    Column("received", BigInteger, nullable=False),
    UniqueConstraint("sender", "record_id", name="uq_inbox_record"),
)
