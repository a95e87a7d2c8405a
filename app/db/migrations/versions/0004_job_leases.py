"""Async jobs are owned through a lease (issue 13 §3): ``sent_upstream_at`` records when a job's
work started, and unfinished jobs a pre-lease process left without a lease get one that has
already run out, so the first reaper finishes them instead of leaving them ``running`` (the
running ones as started: ``sent_upstream``).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "async_jobs", sa.Column("sent_upstream_at", sa.DateTime(timezone=True), nullable=True)
    )
    jobs = sa.table(
        "async_jobs",
        sa.column("status", sa.String()),
        sa.column("lease_expires_at", sa.DateTime(timezone=True)),
        sa.column("sent_upstream", sa.Boolean()),
    )
    expired = datetime(1970, 1, 2, tzinfo=UTC)
    if op.get_context().dialect.name == "sqlite":  # naive UTC there (app.db.types)
        expired = expired.replace(tzinfo=None)
    op.execute(
        jobs.update()
        .where(jobs.c.status.in_(("queued", "running")), jobs.c.lease_expires_at.is_(None))
        .values(lease_expires_at=expired)
    )
    # before leases, "running" meant the work had started (the column was never set)
    op.execute(jobs.update().where(jobs.c.status == "running").values(sent_upstream=True))


def downgrade() -> None:
    with op.batch_alter_table("async_jobs") as batch:
        batch.drop_column("sent_upstream_at")
