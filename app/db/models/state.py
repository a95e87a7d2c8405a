"""State shared by every worker and replica: async jobs and idempotency results."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db.models.base import ID, Base

JOB_STATUSES = ("queued", "running", "succeeded", "failed")
IDEMPOTENCY_STATES = ("pending", "succeeded", "failed")


def _one_of(column: str, values: tuple[str, ...]) -> CheckConstraint:
    return CheckConstraint(f"{column} IN ({', '.join(repr(v) for v in values)})", name=column)


class AsyncJob(Base):
    """A ``Prefer: respond-async`` job. A replica owns a running job through a lease
    (``lease_owner`` until ``lease_expires_at``, renewed by heartbeats); a job whose lease
    expired is finished as failed by any replica, saying whether its work had started
    (``sent_upstream``, ``sent_upstream_at``). ``payload`` is reserved for running a job that
    never started again elsewhere (issue 13 §3)."""

    __tablename__ = "async_jobs"
    __table_args__ = (
        _one_of("status", JOB_STATUSES),
        Index(None, "status", "lease_expires_at"),
        Index(None, "expires_at"),
        Index(None, "owner", "idempotency_key", unique=True),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    owner: Mapped[str] = mapped_column(String(80), doc="the caller: key id, or a config key's")
    idempotency_key: Mapped[str | None] = mapped_column(String(255), doc="one job per key")
    fingerprint: Mapped[str | None] = mapped_column(String(64), doc="of the keyed request")
    request_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    expires_at: Mapped[datetime]
    lease_owner: Mapped[str | None] = mapped_column(String(200), doc="replica/process id")
    lease_expires_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer(), default=0, server_default="0")
    sent_upstream: Mapped[bool] = mapped_column(Boolean(), default=False, server_default=false())
    sent_upstream_at: Mapped[datetime | None] = mapped_column(doc="when its work started")
    payload: Mapped[bytes | None] = mapped_column(LargeBinary(), doc="the job, to run it again")
    result: Mapped[bytes | None] = mapped_column(LargeBinary(), doc="rendered response JSON")
    error: Mapped[bytes | None] = mapped_column(LargeBinary(), doc="rendered error JSON")


class IdempotencyResult(Base):
    """One ``Idempotency-Key`` within a scope (the caller). The row is also the claim: the
    replica whose INSERT creates it (state ``pending``) is the only one that calls upstream;
    the others wait for ``succeeded``/``failed``, or take over a claim whose
    ``claim_expires_at`` passed (its claimer died)."""

    __tablename__ = "idempotency_results"
    __table_args__ = (
        _one_of("state", IDEMPOTENCY_STATES),
        Index(None, "expires_at"),
    )

    scope: Mapped[str] = mapped_column(String(80), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), doc="hash of the request it answered")
    state: Mapped[str] = mapped_column(String(16))
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claim_expires_at: Mapped[datetime | None]
    status_code: Mapped[int | None] = mapped_column(Integer())
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary())
    response_refs: Mapped[list[str] | None] = mapped_column(JSON(), doc="stored image ids")
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON())
