"""Async jobs for clients that cannot hold a connection (``Prefer: respond-async``).

A job is recorded in SQLite before it is accepted, runs in the gateway under a bounded number
of concurrent jobs (the rest wait in line), and keeps its rendered answer until its TTL ends.
Jobs are scoped to the caller that created them. At start-up, jobs a previous process left
queued or running are marked failed, never silently forgotten.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import orjson

from app.config.schema import JobsConfig
from app.errors import GatewayError, RateLimited
from app.run.tasks import TaskRegistry

log = logging.getLogger(__name__)
Status = Literal["queued", "running", "succeeded", "failed"]
_SCHEMA = """
create table if not exists jobs (
    id text primary key, caller text not null, status text not null,
    created_at real not null, completed_at real, expires_at real not null,
    result blob, error blob
);
create index if not exists jobs_expiry on jobs (expires_at);
create index if not exists jobs_status on jobs (status);
"""


@dataclass(frozen=True, slots=True)
class JobRecord:
    id: str
    status: Status
    created_at: float
    completed_at: float | None = None
    result: bytes | None = None  # the rendered ImagesResponse JSON
    error: bytes | None = None  # the rendered error object JSON


class JobStore:
    """Blocking SQLite access; call it from worker threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("pragma journal_mode=wal")
            self._db.executescript(_SCHEMA)

    def create(self, job_id: str, caller: str, now: float, ttl: float) -> None:
        with self._lock:
            self._db.execute(
                "insert into jobs (id, caller, status, created_at, expires_at) values (?,?,?,?,?)",
                (job_id, caller, "queued", now, now + ttl),
            )

    def update(self, job_id: str, status: Status, *, result: bytes | None = None,
               error: bytes | None = None) -> None:  # fmt: skip
        finished = time.time() if status in ("succeeded", "failed") else None
        with self._lock:
            self._db.execute(
                "update jobs set status=?, completed_at=?, result=?, error=? where id=?",
                (status, finished, result, error, job_id),
            )

    def get(self, job_id: str, caller: str, now: float) -> JobRecord | None:
        with self._lock:
            row = self._db.execute(
                "select id, status, created_at, completed_at, result, error from jobs "
                "where id=? and caller=? and expires_at>?",
                (job_id, caller, now),
            ).fetchone()
        return None if row is None else JobRecord(*row)

    def unfinished(self) -> int:
        with self._lock:
            row = self._db.execute(
                "select count(*) from jobs where status in ('queued','running')"
            ).fetchone()
        return int(row[0])

    def fail_unfinished(self, message: str) -> int:
        error = orjson.dumps(GatewayError(message, code="job_interrupted").envelope()["error"])
        with self._lock:
            cursor = self._db.execute(
                "update jobs set status='failed', completed_at=?, error=? "
                "where status in ('queued','running')",
                (time.time(), error),
            )
        return cursor.rowcount

    def purge_expired(self, now: float) -> None:
        with self._lock:
            self._db.execute("delete from jobs where expires_at<=?", (now,))

    def close(self) -> None:
        with self._lock:
            self._db.close()


class JobRunner:
    def __init__(self, store: JobStore, tasks: TaskRegistry, config: JobsConfig) -> None:
        self._store = store
        self._tasks = tasks
        self._config = config
        self._slots = asyncio.Semaphore(config.max_running)

    async def recover(self) -> None:
        failed = await asyncio.to_thread(
            self._store.fail_unfinished, "The gateway restarted before this job finished."
        )
        if failed:
            log.warning("marked %d job(s) from a previous run as failed", failed)

    async def submit(
        self,
        caller: str,
        work: Callable[[], Awaitable[bytes]],
        on_drop: Callable[[], None] | None = None,
    ) -> JobRecord:
        """Record a job and start it; ``work`` returns the rendered response body.
        ``on_drop`` runs if the job ends without ``work`` ever being called."""
        now = time.time()
        await asyncio.to_thread(self._store.purge_expired, now)
        limit = self._config.max_running + self._config.max_queued
        if await asyncio.to_thread(self._store.unfinished) >= limit:
            raise RateLimited(f"Too many image jobs are waiting ({limit}); try again later.",
                              code="too_many_jobs", retry_after=5)  # fmt: skip
        job_id = "imgjob_" + secrets.token_urlsafe(16)
        await asyncio.to_thread(self._store.create, job_id, caller, now, self._config.ttl)
        self._tasks.spawn(self._run(job_id, work, on_drop), name=f"job:{job_id}")
        return JobRecord(job_id, "queued", now)

    async def get(self, job_id: str, caller: str) -> JobRecord | None:
        return await asyncio.to_thread(self._store.get, job_id, caller, time.time())

    async def _run(
        self,
        job_id: str,
        work: Callable[[], Awaitable[bytes]],
        on_drop: Callable[[], None] | None,
    ) -> None:
        update = self._store.update
        called = False
        try:
            async with self._slots:
                await asyncio.to_thread(update, job_id, "running")
                called = True
                body = await work()
            await asyncio.to_thread(update, job_id, "succeeded", result=body)
        except GatewayError as exc:
            await asyncio.to_thread(update, job_id, "failed", error=_error(exc))
        except asyncio.CancelledError:
            shutdown = GatewayError("The gateway shut down before this job finished.")
            update(job_id, "failed", error=_error(shutdown))
            raise
        except Exception:
            log.exception("job %s failed", job_id)
            internal = GatewayError("The gateway hit an internal error.")
            await asyncio.to_thread(update, job_id, "failed", error=_error(internal))
        finally:
            if not called and on_drop is not None:
                on_drop()


def _error(error: GatewayError) -> bytes:
    return orjson.dumps(error.envelope()["error"])
