"""The log, its Merkle hashes, checkpoints, nonces and blobs.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "logs",
        sa.Column("did", sa.String(64), primary_key=True),
        sa.Column("origin", sa.String(200), nullable=False),
        sa.Column("vkey", sa.String(300), nullable=False),
        sa.Column("is_local", sa.Boolean, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("frontier", sa.LargeBinary, nullable=False),
        sa.Column("authority", sa.Text, nullable=False),
        sa.Column("checkpoint", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "entries",
        sa.Column("log_did", sa.String(64), primary_key=True),
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("leaf", sa.LargeBinary, nullable=False),
        sa.Column("record_id", sa.String(71), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("created", sa.String(40), nullable=False),
        sa.UniqueConstraint("log_did", "record_id", name="uq_entries_record"),
    )
    op.create_index("ix_entries_type", "entries", ["log_did", "type"])
    op.create_index("ix_entries_author", "entries", ["author"])
    op.create_table(
        "tree_hashes",
        sa.Column("log_did", sa.String(64), primary_key=True),
        sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
    )
    op.create_table(
        "checkpoints",
        sa.Column("log_did", sa.String(64), primary_key=True),
        sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("note", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "nonces",
        sa.Column("keyid", sa.String(64), primary_key=True),
        sa.Column("nonce", sa.String(128), primary_key=True),
        sa.Column("expires", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_nonces_expires", "nonces", ["expires"])
    op.create_table(
        "blobs",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("uploader", sa.String(64), nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in ("blobs", "nonces", "checkpoints", "tree_hashes", "entries", "logs"):
        op.drop_table(table)
