"""The usage ledger: one row per request (the image index is ``app.db.models.images``).

It has no foreign keys to keys or teams: the ledger is history, written in batches off the
request path; it must accept rows for config-file keys and outlive a deleted team.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Index, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from app.db.models.base import ID, Base


class UsageRecord(Base):
    __tablename__ = "usage_records"
    __table_args__ = (
        Index(None, "created_at"),
        Index(None, "key_id", "created_at"),
        Index(None, "team_id", "created_at"),
        Index(None, "model", "created_at"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    key_id: Mapped[str | None] = mapped_column(ID)
    team_id: Mapped[str | None] = mapped_column(ID)
    model: Mapped[str] = mapped_column(String(200))
    carrier: Mapped[str | None] = mapped_column(String(100))
    attempts: Mapped[int] = mapped_column(Integer(), default=0)
    outcome: Mapped[str] = mapped_column(String(16), doc="succeeded | failed | cancelled")
    error_code: Mapped[str | None] = mapped_column(String(64))
    images: Mapped[int] = mapped_column(Integer(), default=0)
    pixels: Mapped[int] = mapped_column(BigInteger(), default=0)
    size: Mapped[str | None] = mapped_column(String(32))
    quality: Mapped[str | None] = mapped_column(String(16))
    output_format: Mapped[str | None] = mapped_column(String(8))
    usage_tokens: Mapped[dict[str, Any] | None] = mapped_column(JSON())
    estimated_cost_nanos: Mapped[int | None] = mapped_column(BigInteger())
    settled_cost_nanos: Mapped[int | None] = mapped_column(BigInteger())
    latency_ms: Mapped[int] = mapped_column(Integer())
    stream: Mapped[bool] = mapped_column(Boolean(), default=False, server_default=false())
    async_job: Mapped[bool] = mapped_column(Boolean(), default=False, server_default=false())
    replay: Mapped[bool] = mapped_column(Boolean(), default=False, server_default=false())
    client_gone: Mapped[bool] = mapped_column(Boolean(), default=False, server_default=false())
    created_at: Mapped[datetime]
