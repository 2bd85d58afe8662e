"""The ledger: contributions, confirmations, policies, distributions and their parts.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _key() -> list[sa.Column[int] | sa.Column[str]]:
    return [
        sa.Column("log_did", sa.String(64), primary_key=True),
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    ]


def upgrade() -> None:
    op.create_table(
        "ledger_contributions",
        *_key(),
        sa.Column("record_id", sa.String(71), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("receiver", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("resource_value", sa.String(32), nullable=True),
        sa.Column("resource_unit", sa.String(32), nullable=True),
        sa.Column("effort_value", sa.String(32), nullable=True),
        sa.Column("effort_unit", sa.String(32), nullable=True),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("corrects", sa.String(71), nullable=True),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_index("ix_ledger_contributions_id", "ledger_contributions", ["record_id"])
    op.create_index("ix_ledger_contributions_provider", "ledger_contributions", ["provider"])
    op.create_index("ix_ledger_contributions_receiver", "ledger_contributions", ["receiver"])
    op.create_table(
        "ledger_confirms",
        *_key(),
        sa.Column("record_id", sa.String(71), nullable=False),
        sa.Column("contribution", sa.String(71), nullable=False),
        sa.Column("contribution_log", sa.String(64), nullable=False),
        sa.Column("confirmer", sa.String(64), nullable=False),
    )
    op.create_index("ix_ledger_confirms_contribution", "ledger_confirms", ["contribution"])
    op.create_table(
        "ledger_policies",
        *_key(),
        sa.Column("record_id", sa.String(71), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("decision", sa.String(71), nullable=False),
        sa.Column("created", sa.String(40), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_index("ix_ledger_policies_id", "ledger_policies", ["record_id"])
    op.create_table(
        "ledger_distributions",
        *_key(),
        sa.Column("record_id", sa.String(71), nullable=False),
        sa.Column("complete", sa.String(71), nullable=False),
        sa.Column("job", sa.String(71), nullable=False),
        sa.Column("job_log", sa.String(64), nullable=False),
        sa.Column("workshop", sa.String(64), nullable=False),
        sa.Column("policy", sa.String(71), nullable=False),
        sa.Column("policy_version", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("total", sa.BigInteger, nullable=False),
        sa.Column("created", sa.String(40), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("agreement", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_ledger_distributions_job", "ledger_distributions", ["job"])
    op.create_index("ix_ledger_distributions_agreement", "ledger_distributions", ["agreement"])
    op.create_table(
        "ledger_parts",
        *_key(),
        sa.Column("n", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("agent", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
    )
    op.create_index("ix_ledger_parts_agent", "ledger_parts", ["agent"])


def downgrade() -> None:
    for table in (
        "ledger_parts",
        "ledger_distributions",
        "ledger_policies",
        "ledger_confirms",
        "ledger_contributions",
    ):
        op.drop_table(table)
