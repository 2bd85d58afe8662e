"""Mesh analyses of design files, thumbnails, peers' analyses checked (node/store/analyses.py).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "design_analyses",
        sa.Column("log_did", sa.String(64), primary_key=True),
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("record_id", sa.String(71), nullable=False),
        sa.Column("design", sa.String(71), nullable=False),
        sa.Column("file", sa.String(64), nullable=False),
        sa.Column("figures", sa.Text, nullable=False),
        sa.Column("thumbnail", sa.String(64), nullable=True),
        sa.Column("analyser", sa.Text, nullable=False),
        sa.Column("created", sa.String(40), nullable=False),
    )
    op.create_index("ix_design_analyses_design", "design_analyses", ["design"])
    op.create_index("ix_design_analyses_record", "design_analyses", ["record_id"])
    op.create_table(
        "analysis_tasks",
        sa.Column("design", sa.String(71), primary_key=True),
        sa.Column("file", sa.String(64), primary_key=True),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("units", sa.String(8), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt", sa.BigInteger, nullable=False),
        sa.Column("updated", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_analysis_tasks_due", "analysis_tasks", ["state", "next_attempt"])
    op.create_table(
        "analysis_checks",
        sa.Column("record_id", sa.String(71), primary_key=True),
        sa.Column("log_did", sa.String(64), nullable=False),
        sa.Column("design", sa.String(71), nullable=False),
        sa.Column("file", sa.String(64), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("units", sa.String(8), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("local_figures", sa.Text, nullable=True),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt", sa.BigInteger, nullable=False),
        sa.Column("updated", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_analysis_checks_due", "analysis_checks", ["state", "next_attempt"])
    op.create_index("ix_analysis_checks_design", "analysis_checks", ["design"])


def downgrade() -> None:
    op.drop_table("analysis_checks")
    op.drop_table("analysis_tasks")
    op.drop_table("design_analyses")
