"""Capacity and jobs: workshops, machines, offers, jobs.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workshops",
        sa.Column("log_did", sa.String(64), primary_key=True),
        sa.Column("slug", sa.String(64), primary_key=True),
        sa.Column("record_id", sa.String(71), nullable=False),
        sa.Column("idx", sa.BigInteger, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("retired", sa.Boolean, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_table(
        "workshop_owners",
        sa.Column("log_did", sa.String(64), primary_key=True),
        sa.Column("slug", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(64), primary_key=True),
    )
    op.create_index("ix_workshop_owners_owner", "workshop_owners", ["owner"])
    op.create_table(
        "machines",
        sa.Column("log_did", sa.String(64), primary_key=True),
        sa.Column("workshop", sa.String(64), primary_key=True),
        sa.Column("machine", sa.String(64), primary_key=True),
        sa.Column("record_id", sa.String(71), nullable=False),
        sa.Column("idx", sa.BigInteger, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_table(
        "offers",
        sa.Column("log_did", sa.String(64), primary_key=True),
        sa.Column("workshop", sa.String(64), primary_key=True),
        sa.Column("offer", sa.String(64), primary_key=True),
        sa.Column("record_id", sa.String(71), nullable=False),
        sa.Column("idx", sa.BigInteger, nullable=False),
        sa.Column("machine", sa.String(64), nullable=False),
        sa.Column("open", sa.Boolean, nullable=False),
        sa.Column("valid_until", sa.String(40), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_index("ix_offers_open", "offers", ["open"])
    op.create_table(
        "capacity_version",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "job_events",
        sa.Column("log_did", sa.String(64), primary_key=True),
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("job", sa.String(71), nullable=False),
        sa.Column("job_log", sa.String(64), nullable=False),
        sa.Column("record_id", sa.String(71), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("created", sa.String(40), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_index("ix_job_events_job", "job_events", ["job", "job_log"])
    op.create_table(
        "jobs",
        sa.Column("job_log", sa.String(64), primary_key=True),
        sa.Column("job", sa.String(71), primary_key=True),
        sa.Column("known", sa.Boolean, nullable=False),
        sa.Column("requester", sa.String(64), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("design", sa.String(71), nullable=True),
        sa.Column("deadline", sa.String(40), nullable=True),
        sa.Column("workshop_log", sa.String(64), nullable=True),
        sa.Column("workshop", sa.String(64), nullable=True),
        sa.Column("machine", sa.String(64), nullable=True),
        sa.Column("assigned", sa.Boolean, nullable=False),
        sa.Column("live_offer", sa.String(71), nullable=True),
        sa.Column("respond_by", sa.String(40), nullable=True),
        sa.Column("hours_milli", sa.BigInteger, nullable=False),
        sa.Column("offers", sa.BigInteger, nullable=False),
        sa.Column("updated", sa.String(40), nullable=False),
    )
    op.create_index("ix_jobs_state", "jobs", ["state"])
    op.create_index("ix_jobs_workshop", "jobs", ["workshop_log", "workshop"])


def downgrade() -> None:
    op.drop_index("ix_jobs_workshop", "jobs")
    op.drop_index("ix_jobs_state", "jobs")
    op.drop_table("jobs")
    op.drop_index("ix_job_events_job", "job_events")
    op.drop_table("job_events")
    op.drop_table("capacity_version")
    op.drop_index("ix_offers_open", "offers")
    op.drop_table("offers")
    op.drop_table("machines")
    op.drop_index("ix_workshop_owners_owner", "workshop_owners")
    op.drop_table("workshop_owners")
    op.drop_table("workshops")
