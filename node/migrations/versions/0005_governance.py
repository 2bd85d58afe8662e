"""Governance: members, delegations, proposals, ballots, results (node/store/governance.py).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gov_members",
        sa.Column("log_did", sa.String(64), primary_key=True),
        sa.Column("identity", sa.String(64), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
    )
    op.create_table(
        "gov_delegations",
        sa.Column("log_did", sa.String(64), primary_key=True),
        sa.Column("topic", sa.String(64), primary_key=True),
        sa.Column("identity", sa.String(64), primary_key=True),
        sa.Column("delegate", sa.String(64), nullable=False),
    )
    op.create_table(
        "gov_proposals",
        sa.Column("log_did", sa.String(64), primary_key=True),
        sa.Column("proposal_id", sa.String(71), primary_key=True),
        sa.Column("idx", sa.BigInteger, nullable=False),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("created", sa.String(40), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("closes", sa.String(40), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("electorate", sa.Text, nullable=False),
        sa.Column("delegations", sa.Text, nullable=False),
        sa.Column("ballots_cast", sa.Integer, nullable=False),
        sa.Column("result_id", sa.String(71), nullable=True),
        sa.Column("result_created", sa.String(40), nullable=True),
        sa.Column("tally", sa.Text, nullable=True),
        sa.Column("recomputed", sa.Text, nullable=True),
        sa.Column("agreement", sa.String(16), nullable=True),
        sa.Column("adopted", sa.Boolean, nullable=True),
        sa.Column("executed_by", sa.String(71), nullable=True),
        sa.Column("execution_error", sa.Text, nullable=True),
    )
    op.create_index("ix_gov_proposals_result", "gov_proposals", ["result_id"])
    op.create_index("ix_gov_proposals_closes", "gov_proposals", ["closes"])
    op.create_table(
        "gov_ballots",
        sa.Column("log_did", sa.String(64), primary_key=True),
        sa.Column("proposal_id", sa.String(71), primary_key=True),
        sa.Column("voter", sa.String(64), primary_key=True),
        sa.Column("idx", sa.BigInteger, nullable=False),
        sa.Column("record_id", sa.String(71), nullable=False),
        sa.Column("created", sa.String(40), nullable=False),
        sa.Column("choice", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("gov_ballots")
    op.drop_index("ix_gov_proposals_closes", table_name="gov_proposals")
    op.drop_index("ix_gov_proposals_result", table_name="gov_proposals")
    op.drop_table("gov_proposals")
    op.drop_table("gov_delegations")
    op.drop_table("gov_members")
