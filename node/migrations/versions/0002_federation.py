"""Federation: peers, cosignatures, equivocation evidence, the outbox and inbox.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "peers",
        sa.Column("did", sa.String(64), primary_key=True),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("origin", sa.String(200), nullable=False),
        sa.Column("vkey", sa.String(300), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("last_success", sa.BigInteger, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("added", sa.BigInteger, nullable=False),
        sa.Column("fetched_entries", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "cosignatures",
        sa.Column("log_did", sa.String(64), primary_key=True),
        sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("witness_key", sa.LargeBinary(32), primary_key=True),
        sa.Column("witness_name", sa.String(200), nullable=False),
        sa.Column("line", sa.Text, nullable=False),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "evidence",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("log_did", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("found", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_evidence_log", "evidence", ["log_did"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("peer_did", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt", sa.BigInteger, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
    )
    op.create_index("ix_outbox_due", "outbox", ["next_attempt"])
    op.create_table(
        "inbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("sender", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("record_id", sa.String(71), nullable=True),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("received", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("sender", "record_id", name="uq_inbox_record"),
    )


def downgrade() -> None:
    for table in ("inbox", "outbox", "evidence", "cosignatures", "peers"):
        op.drop_table(table)
