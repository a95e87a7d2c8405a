"""The whole schema: keys, teams, budgets, the usage ledger, images, async jobs, idempotency.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-25
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
        "async_jobs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("owner", sa.String(length=80), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=200), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("sent_upstream", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=True),
        sa.Column("result", sa.LargeBinary(), nullable=True),
        sa.Column("error", sa.LargeBinary(), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed')",
            name=op.f("ck_async_jobs_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_async_jobs")),
    )
    op.create_index(op.f("ix_async_jobs_expires_at"), "async_jobs", ["expires_at"], unique=False)
    op.create_index(
        op.f("ix_async_jobs_status_lease_expires_at"),
        "async_jobs",
        ["status", "lease_expires_at"],
        unique=False,
    )
    op.create_table(
        "budget_holds",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("amount_nanos", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_nanos >= 0", name=op.f("ck_budget_holds_amount_nanos")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budget_holds")),
    )
    op.create_index(
        op.f("ix_budget_holds_created_at"), "budget_holds", ["created_at"], unique=False
    )
    op.create_index(
        op.f("ix_budget_holds_request_id"), "budget_holds", ["request_id"], unique=False
    )
    op.create_table(
        "budget_spend",
        sa.Column("owner", sa.String(length=80), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("spent_nanos", sa.BigInteger(), nullable=False),
        sa.Column("held_nanos", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("held_nanos >= 0", name=op.f("ck_budget_spend_held_nanos")),
        sa.CheckConstraint("spent_nanos >= 0", name=op.f("ck_budget_spend_spent_nanos")),
        sa.PrimaryKeyConstraint("owner", "period_start", name=op.f("pk_budget_spend")),
    )
    op.create_table(
        "idempotency_results",
        sa.Column("scope", sa.String(length=80), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("claimed_by", sa.String(length=200), nullable=True),
        sa.Column("claim_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.LargeBinary(), nullable=True),
        sa.Column("response_refs", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'succeeded', 'failed')", name=op.f("ck_idempotency_results_state")
        ),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_idempotency_results")),
    )
    op.create_index(
        op.f("ix_idempotency_results_expires_at"),
        "idempotency_results",
        ["expires_at"],
        unique=False,
    )
    op.create_table(
        "images",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=40), nullable=True),
        sa.Column("team_id", sa.String(length=40), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("location", sa.String(length=1024), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("prompt", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_images")),
    )
    op.create_index(op.f("ix_images_expires_at"), "images", ["expires_at"], unique=False)
    op.create_index(
        op.f("ix_images_key_id_created_at"), "images", ["key_id", "created_at"], unique=False
    )
    op.create_index(op.f("ix_images_request_id"), "images", ["request_id"], unique=False)
    op.create_index(
        op.f("ix_images_team_id_created_at"), "images", ["team_id", "created_at"], unique=False
    )
    op.create_table(
        "teams",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("models", sa.JSON(), nullable=True),
        sa.Column("max_n", sa.Integer(), nullable=True),
        sa.Column("max_pixels", sa.BigInteger(), nullable=True),
        sa.Column("qualities", sa.JSON(), nullable=True),
        sa.Column("max_edit_images", sa.Integer(), nullable=True),
        sa.Column("images_per_minute", sa.Integer(), nullable=True),
        sa.Column("requests_per_minute", sa.Integer(), nullable=True),
        sa.Column("max_concurrent", sa.Integer(), nullable=True),
        sa.Column("budget_nanos", sa.BigInteger(), nullable=True),
        sa.Column("budget_period", sa.String(length=8), server_default="month", nullable=False),
        sa.Column("metadata", sa.JSON(), server_default="{}", nullable=False),
        sa.CheckConstraint(
            "budget_period IN ('day', 'week', 'month', 'total')",
            name=op.f("ck_teams_budget_period"),
        ),
        sa.CheckConstraint("budget_nanos >= 0", name=op.f("ck_teams_budget_nanos")),
        sa.CheckConstraint("images_per_minute > 0", name=op.f("ck_teams_images_per_minute")),
        sa.CheckConstraint("max_concurrent > 0", name=op.f("ck_teams_max_concurrent")),
        sa.CheckConstraint("max_edit_images > 0", name=op.f("ck_teams_max_edit_images")),
        sa.CheckConstraint("max_n > 0", name=op.f("ck_teams_max_n")),
        sa.CheckConstraint("max_pixels > 0", name=op.f("ck_teams_max_pixels")),
        sa.CheckConstraint("requests_per_minute > 0", name=op.f("ck_teams_requests_per_minute")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("name", name=op.f("uq_teams_name")),
    )
    op.create_table(
        "usage_records",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=40), nullable=True),
        sa.Column("team_id", sa.String(length=40), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("carrier", sa.String(length=100), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("images", sa.Integer(), nullable=False),
        sa.Column("pixels", sa.BigInteger(), nullable=False),
        sa.Column("size", sa.String(length=32), nullable=True),
        sa.Column("quality", sa.String(length=16), nullable=True),
        sa.Column("output_format", sa.String(length=8), nullable=True),
        sa.Column("usage_tokens", sa.JSON(), nullable=True),
        sa.Column("estimated_cost_nanos", sa.BigInteger(), nullable=True),
        sa.Column("settled_cost_nanos", sa.BigInteger(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("stream", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("async_job", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("replay", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("client_gone", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_records")),
    )
    op.create_index(
        op.f("ix_usage_records_created_at"), "usage_records", ["created_at"], unique=False
    )
    op.create_index(
        op.f("ix_usage_records_key_id_created_at"),
        "usage_records",
        ["key_id", "created_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_usage_records_model_created_at"),
        "usage_records",
        ["model", "created_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_usage_records_request_id"), "usage_records", ["request_id"], unique=False
    )
    op.create_index(
        op.f("ix_usage_records_team_id_created_at"),
        "usage_records",
        ["team_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("team_id", sa.String(length=40), nullable=True),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("previous_hash", sa.String(length=64), nullable=True),
        sa.Column("previous_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("models", sa.JSON(), nullable=True),
        sa.Column("max_n", sa.Integer(), nullable=True),
        sa.Column("max_pixels", sa.BigInteger(), nullable=True),
        sa.Column("qualities", sa.JSON(), nullable=True),
        sa.Column("max_edit_images", sa.Integer(), nullable=True),
        sa.Column("images_per_minute", sa.Integer(), nullable=True),
        sa.Column("requests_per_minute", sa.Integer(), nullable=True),
        sa.Column("max_concurrent", sa.Integer(), nullable=True),
        sa.Column("budget_nanos", sa.BigInteger(), nullable=True),
        sa.Column("budget_period", sa.String(length=8), server_default="month", nullable=False),
        sa.Column("metadata", sa.JSON(), server_default="{}", nullable=False),
        sa.CheckConstraint(
            "budget_period IN ('day', 'week', 'month', 'total')",
            name=op.f("ck_api_keys_budget_period"),
        ),
        sa.CheckConstraint("budget_nanos >= 0", name=op.f("ck_api_keys_budget_nanos")),
        sa.CheckConstraint("images_per_minute > 0", name=op.f("ck_api_keys_images_per_minute")),
        sa.CheckConstraint("max_concurrent > 0", name=op.f("ck_api_keys_max_concurrent")),
        sa.CheckConstraint("max_edit_images > 0", name=op.f("ck_api_keys_max_edit_images")),
        sa.CheckConstraint("max_n > 0", name=op.f("ck_api_keys_max_n")),
        sa.CheckConstraint("max_pixels > 0", name=op.f("ck_api_keys_max_pixels")),
        sa.CheckConstraint("requests_per_minute > 0", name=op.f("ck_api_keys_requests_per_minute")),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_api_keys_team_id_teams"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
        sa.UniqueConstraint("previous_hash", name=op.f("uq_api_keys_previous_hash")),
    )
    op.create_index(
        op.f("ix_api_keys_team_id_created_at"), "api_keys", ["team_id", "created_at"], unique=False
    )
    op.create_table(
        "budget_hold_parts",
        sa.Column("hold_id", sa.String(length=40), nullable=False),
        sa.Column("owner", sa.String(length=80), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["hold_id"],
            ["budget_holds.id"],
            name=op.f("fk_budget_hold_parts_hold_id_budget_holds"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner", "period_start"],
            ["budget_spend.owner", "budget_spend.period_start"],
            name="fk_budget_hold_parts_spend",
        ),
        sa.PrimaryKeyConstraint("hold_id", "owner", name=op.f("pk_budget_hold_parts")),
    )


def downgrade() -> None:
    for table in (
        "budget_hold_parts", "api_keys", "usage_records", "teams", "images",
        "idempotency_results", "budget_spend", "budget_holds", "async_jobs",
    ):  # fmt: skip
        op.drop_table(table)
