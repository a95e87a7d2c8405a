"""Async jobs for clients that cannot hold a connection (``Prefer: respond-async``).

A job is recorded in the job store before it is accepted, runs in the gateway under a bounded
number of concurrent jobs (the rest wait in line), and keeps its rendered answer until its TTL
ends. Jobs are scoped to the principal that created them; a repeated Idempotency-Key gets the
job its first request made. At start-up, jobs a previous process left queued or running are
marked failed, never silently forgotten.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable

from app.config.runtime import JobsConfig
from app.errors import GatewayError, RateLimited, error_object
from app.run.tasks import TaskRegistry
from app.state.base import JobRecord, JobStore, RequestKey

log = logging.getLogger(__name__)


class JobRunner:
    def __init__(self, store: JobStore, tasks: TaskRegistry, config: JobsConfig) -> None:
        self._store = store
        self._tasks = tasks
        self._config = config
        self._slots = asyncio.Semaphore(config.max_running)

    async def unfinished(self) -> int:
        """Jobs queued or running (in every process sharing the store)."""
        return await self._store.unfinished()

    async def by_status(self) -> dict[str, int]:
        """Jobs by status when the store can count them so, else just the unfinished ones."""
        by_status = getattr(self._store, "by_status", None)
        if by_status is None:
            return {"unfinished": await self._store.unfinished()}
        counts: dict[str, int] = await by_status()
        return counts

    async def recover(self) -> None:
        restarted = GatewayError(
            "The gateway restarted before this job finished.", code="job_interrupted"
        )
        failed = await self._store.fail_unfinished(error_object(restarted))
        if failed:
            log.warning("marked %d job(s) from a previous run as failed", failed)

    async def submit(
        self,
        owner: str,
        work: Callable[[], Awaitable[bytes]],
        on_drop: Callable[[], None] | None = None,
        key: RequestKey | None = None,
    ) -> tuple[JobRecord, bool]:
        """Record a job and start it; ``work`` returns the rendered response body. The job,
        and whether it is new (with ``key``, an earlier job for the same key is returned and
        nothing starts). ``on_drop`` runs if a new job ends without ``work`` ever being called."""
        await self._store.purge_expired()
        limit = self._config.max_running + self._config.max_queued
        if await self._store.unfinished() >= limit:
            raise RateLimited(
                f"Too many image jobs are waiting ({limit}); try again later.",
                code="too_many_jobs",
                retry_after=5,
            )
        job_id = "imgjob_" + secrets.token_urlsafe(16)
        record, new = await self._store.create(job_id, owner, self._config.ttl, key)
        if new:
            self._tasks.spawn(self._run(job_id, work, on_drop), name=f"async-job:{job_id}")
        return record, new

    async def get(self, job_id: str, owner: str) -> JobRecord | None:
        return await self._store.get(job_id, owner)

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
                await update(job_id, "running")
                called = True
                body = await work()
            await update(job_id, "succeeded", result=body)
        except GatewayError as exc:
            await update(job_id, "failed", error=error_object(exc))
        except asyncio.CancelledError:
            shutdown = GatewayError("The gateway shut down before this job finished.")
            await asyncio.shield(update(job_id, "failed", error=error_object(shutdown)))
            raise
        except Exception:
            log.exception("job %s failed", job_id)
            internal = GatewayError("The gateway hit an internal error.")
            await update(job_id, "failed", error=error_object(internal))
        finally:
            if not called and on_drop is not None:
                on_drop()
