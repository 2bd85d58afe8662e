"""Designs: design records, their files, lineage and search terms (node/store/designs.py).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "designs",
        sa.Column("record_id", sa.String(71), primary_key=True),
        sa.Column("log_did", sa.String(64), nullable=False),
        sa.Column("idx", sa.BigInteger, nullable=False),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("identity", sa.String(64), nullable=False),
        sa.Column("created", sa.String(40), nullable=False),
        sa.Column("seen", sa.BigInteger, nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("license", sa.String(64), nullable=False),
        sa.Column("supersedes", sa.String(71), nullable=True),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("search_text", sa.Text, nullable=False),
    )
    op.create_index("ix_designs_seen", "designs", ["seen"])
    op.create_index("ix_designs_log", "designs", ["log_did", "idx"])
    op.create_index("ix_designs_license", "designs", ["license"])
    op.create_index("ix_designs_supersedes", "designs", ["supersedes"])
    op.create_table(
        "design_files",
        sa.Column("record_id", sa.String(71), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("media_type", sa.String(127), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("units", sa.String(8), nullable=True),
    )
    op.create_index("ix_design_files_sha256", "design_files", ["sha256"])
    op.create_table(
        "design_parents",
        sa.Column("record_id", sa.String(71), primary_key=True),
        sa.Column("parent_id", sa.String(71), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
    )
    op.create_index("ix_design_parents_parent", "design_parents", ["parent_id"])
    op.create_table(
        "design_terms",
        sa.Column("record_id", sa.String(71), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("term", sa.String(200), primary_key=True),
    )
    op.create_index("ix_design_terms_term", "design_terms", ["kind", "term"])


def downgrade() -> None:
    op.drop_table("design_terms")
    op.drop_table("design_parents")
    op.drop_table("design_files")
    op.drop_table("designs")
