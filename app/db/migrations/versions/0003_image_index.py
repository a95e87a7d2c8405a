"""The image index: where each image lives (``backend``), indexes for listing a key's or a
team's images newest first (keyset on created_at, id) and for the retention sweeper; the
replica leases (one sweeper at a time); and the retention and URL-mode policy of keys and teams.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

POLICY_TABLES = ("api_keys", "teams")


def upgrade() -> None:
    op.add_column(
        "images",
        sa.Column("backend", sa.String(length=32), server_default="local", nullable=False),
    )
    op.drop_index(op.f("ix_images_key_id_created_at"), table_name="images")
    op.drop_index(op.f("ix_images_team_id_created_at"), table_name="images")
    op.drop_index(op.f("ix_images_expires_at"), table_name="images")
    op.create_index(
        op.f("ix_images_key_id_created_at_id"), "images", ["key_id", "created_at", "id"]
    )
    op.create_index(
        op.f("ix_images_team_id_created_at_id"), "images", ["team_id", "created_at", "id"]
    )
    op.create_index(op.f("ix_images_deleted_at_expires_at"), "images", ["deleted_at", "expires_at"])
    op.create_table(
        "replica_leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_replica_leases")),
    )
    for table in POLICY_TABLES:
        op.add_column(table, sa.Column("retention_seconds", sa.BigInteger(), nullable=True))
        op.add_column(table, sa.Column("url_mode", sa.String(length=8), nullable=True))


def downgrade() -> None:
    for table in POLICY_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("url_mode")
            batch.drop_column("retention_seconds")
    op.drop_table("replica_leases")
    op.drop_index(op.f("ix_images_deleted_at_expires_at"), table_name="images")
    op.drop_index(op.f("ix_images_team_id_created_at_id"), table_name="images")
    op.drop_index(op.f("ix_images_key_id_created_at_id"), table_name="images")
    op.create_index(op.f("ix_images_expires_at"), "images", ["expires_at"])
    op.create_index(op.f("ix_images_team_id_created_at"), "images", ["team_id", "created_at"])
    op.create_index(op.f("ix_images_key_id_created_at"), "images", ["key_id", "created_at"])
    with op.batch_alter_table("images") as batch:
        batch.drop_column("backend")
