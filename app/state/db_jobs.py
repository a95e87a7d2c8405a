"""The async-job store on the database's ``async_jobs`` table (``app.db``): jobs survive a
restart and every process on the database sees them (SQLite for one host, PostgreSQL for
several).

The process that accepted a job runs it and owns it through a lease: ``lease_owner`` until
``lease_expires_at``, renewed by the owner's heartbeat (``renew``) for all its unfinished jobs
in one statement. Any process reaps (``reap``) unfinished jobs whose lease ran out (their owner
died or hung) by finishing them as failed, so a job is never stuck in ``running``; a live
owner's jobs are never touched. The owner writes progress only while it still owns the job,
so a reaped job is never flipped back. ``sent_upstream_at`` says whether the job had started
its work (admission, then the carrier call) when it was reaped.

Job times (created, completed, expiry) are wall-clock: they are shown to users and must mean
the same thing after a restart, which a monotonic clock does not.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.models import AsyncJob
from app.db.types import from_timestamp
from app.errors import Conflict
from app.state.base import JobRecord, JobStatus, RequestKey

UNFINISHED = ("queued", "running")


def instance_id() -> str:
    """This process among all that share the database: host, pid and a random tag (a pid is
    reused after a restart, the tag is not)."""
    return f"{socket.gethostname()[:120]}:{os.getpid()}:{secrets.token_hex(4)}"


def key_name(owner: str, key: RequestKey) -> str:
    """The client's own Idempotency-Key: the owner's scope is a column of its own."""
    return key.key.removeprefix(f"{owner}:")


class DbJobStore:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        instance: str | None = None,
        clock: Callable[[], float] = time.time,
        lease: float = 30.0,
    ) -> None:
        self._engine = engine
        self._instance = instance or instance_id()
        self._clock = clock
        self._lease = lease
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    async def create(
        self, job_id: str, owner: str, ttl: float, key: RequestKey | None = None
    ) -> tuple[JobRecord, bool]:
        now = self._clock()
        name = None if key is None else key_name(owner, key)
        values: dict[str, Any] = {
            "id": job_id,
            "owner": owner,
            "status": "queued",
            "created_at": from_timestamp(now),
            "expires_at": from_timestamp(now + ttl),
            "lease_owner": self._instance,
            "lease_expires_at": from_timestamp(now + self._lease),
            "heartbeat_at": from_timestamp(now),
            "idempotency_key": name,
            "fingerprint": None if key is None else key.fingerprint,
        }
        async with self._engine.begin() as connection:
            if name is not None:  # an expired job no longer holds its key (a write first: lock)
                await connection.execute(
                    delete(AsyncJob).where(
                        AsyncJob.owner == owner,
                        AsyncJob.idempotency_key == name,
                        AsyncJob.expires_at <= from_timestamp(now),
                    )
                )
            statement = self._insert(AsyncJob).values(**values).on_conflict_do_nothing()
            inserted = await connection.execute(statement.returning(AsyncJob.id))
            if inserted.first() is not None or key is None:
                return JobRecord(job_id, "queued", now), True
            row = (
                await connection.execute(
                    select(AsyncJob).where(
                        AsyncJob.owner == owner, AsyncJob.idempotency_key == name
                    )
                )
            ).one()
        if row.fingerprint != key.fingerprint:
            raise Conflict(
                "This Idempotency-Key was already used with a different request.",
                code="idempotency_key_reused",
            )
        return _record(row), False

    async def update(
        self,
        job_id: str,
        status: JobStatus,
        *,
        result: bytes | None = None,
        error: bytes | None = None,
    ) -> None:
        now = from_timestamp(self._clock())
        values: dict[str, Any] = {"status": status, "result": result, "error": error}
        if status == "running":  # the work starts: from now on it may reach the carrier
            values |= {
                "started_at": now,
                "heartbeat_at": now,
                "attempts": AsyncJob.attempts + 1,
                "sent_upstream": True,
                "sent_upstream_at": now,
            }
        elif status in ("succeeded", "failed"):
            values["completed_at"] = now
        async with self._engine.begin() as connection:
            await connection.execute(
                update(AsyncJob)
                .where(
                    AsyncJob.id == job_id,
                    AsyncJob.lease_owner == self._instance,
                    AsyncJob.status.in_(UNFINISHED),
                )
                .values(**values)
            )

    async def renew(self) -> int:
        """The heartbeat: extend the lease of every unfinished job this process owns (one
        statement). How many it still owns."""
        now = self._clock()
        async with self._engine.begin() as connection:
            result = await connection.execute(
                update(AsyncJob)
                .where(AsyncJob.lease_owner == self._instance, AsyncJob.status.in_(UNFINISHED))
                .values(
                    lease_expires_at=from_timestamp(now + self._lease),
                    heartbeat_at=from_timestamp(now),
                )
            )
        return result.rowcount

    async def reap(self, interrupted: bytes, never_started: bytes) -> int:
        """Finish as failed every unfinished job whose owner's lease ran out: ``interrupted``
        for those whose work had started, ``never_started`` for those still queued. Any
        process may call it (index on status, lease_expires_at); the count reaped."""
        now = from_timestamp(self._clock())
        expired = (AsyncJob.status.in_(UNFINISHED), AsyncJob.lease_expires_at < now)
        reaped = 0
        async with self._engine.begin() as connection:
            for started, error in ((True, interrupted), (False, never_started)):
                result = await connection.execute(
                    update(AsyncJob)
                    .where(*expired, AsyncJob.sent_upstream == started)
                    .values(status="failed", completed_at=now, error=error, lease_owner=None)
                )
                reaped += result.rowcount
        return reaped

    async def get(self, job_id: str, owner: str) -> JobRecord | None:
        async with self._engine.connect() as connection:
            row = (
                await connection.execute(
                    select(AsyncJob).where(
                        AsyncJob.id == job_id,
                        AsyncJob.owner == owner,
                        AsyncJob.expires_at > from_timestamp(self._clock()),
                    )
                )
            ).first()
        return None if row is None else _record(row)

    async def unfinished(self) -> int:
        async with self._engine.connect() as connection:
            count = await connection.scalar(
                select(func.count()).select_from(AsyncJob).where(AsyncJob.status.in_(UNFINISHED))
            )
        return int(count or 0)

    async def by_status(self) -> dict[str, int]:
        """Unexpired jobs by status, for the metrics (every status present, zero or not)."""
        query = (
            select(AsyncJob.status, func.count())
            .where(AsyncJob.expires_at > from_timestamp(self._clock()))
            .group_by(AsyncJob.status)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        counts = dict.fromkeys(("queued", "running", "succeeded", "failed"), 0)
        counts.update({str(status): int(count) for status, count in rows})
        return counts

    async def purge_expired(self) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(
                delete(AsyncJob).where(AsyncJob.expires_at <= from_timestamp(self._clock()))
            )

    async def close(self) -> None:
        """Nothing to release: the engine belongs to the app (``app.main``)."""


def _record(row: Any) -> JobRecord:
    completed = row.completed_at
    return JobRecord(
        id=row.id,
        status=row.status,
        created_at=row.created_at.timestamp(),
        completed_at=None if completed is None else completed.timestamp(),
        result=row.result,
        error=row.error,
    )
