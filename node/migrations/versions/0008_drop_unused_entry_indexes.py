"""Drop the two indexes on entries that no query uses: ix_entries_type and ix_entries_author.

Every append and every synced entry paid for them (two more B-tree inserts
per entry, about a tenth of a log's database), while every lookup of
entries goes by (log_did, idx) or (log_did, record_id), which the primary
key and uq_entries_record serve. Downgrading recreates them.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_entries_author", table_name="entries")
    op.drop_index("ix_entries_type", table_name="entries")


def downgrade() -> None:
    op.create_index("ix_entries_type", "entries", ["log_did", "type"])
    op.create_index("ix_entries_author", "entries", ["author"])
