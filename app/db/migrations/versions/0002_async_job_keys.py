"""Async jobs remember the Idempotency-Key (and the request's fingerprint) they were made with,
so a repeated ``Prefer: respond-async`` request gets the same job from any process.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("async_jobs", sa.Column("idempotency_key", sa.String(length=255), nullable=True))
    op.add_column("async_jobs", sa.Column("fingerprint", sa.String(length=64), nullable=True))
    op.create_index(
        op.f("ix_async_jobs_owner_idempotency_key"),
        "async_jobs",
        ["owner", "idempotency_key"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_async_jobs_owner_idempotency_key"), table_name="async_jobs")
    with op.batch_alter_table("async_jobs") as batch:
        batch.drop_column("fingerprint")
        batch.drop_column("idempotency_key")
