"""Async jobs for clients that cannot hold a connection (``Prefer: respond-async``).

A job is recorded in the job store before it is accepted, runs in the gateway under a bounded
number of concurrent jobs (the rest wait in line), and keeps its rendered answer until its TTL
ends. Jobs are scoped to the principal that created them; a repeated Idempotency-Key gets the
job its first request made.

Every process sharing the database runs one lease loop (``leases``) every ``jobs.lease / 3``
seconds: a heartbeat renewing the leases of its own unfinished jobs, then a reaper finishing
as failed (``job_interrupted``) any job whose owner's lease ran out, so a job whose process died
never stays ``running``, and a process starting up never touches jobs of live ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable

from app.config.runtime import JobsConfig
from app.errors import GatewayError, RateLimited, error_object
from app.run.tasks import TaskRegistry
from app.state.base import JobRecord, JobStore, RequestKey

log = logging.getLogger(__name__)
INTERRUPTED = GatewayError(
    "The gateway process running this job stopped before it finished; the image may or may "
    "not have been generated. Submit the request again.",
    code="job_interrupted",
)
NEVER_STARTED = GatewayError(
    "The gateway process holding this job stopped before it started; nothing was generated "
    "or charged. Submit the request again.",
    code="job_interrupted",
)


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

    @contextlib.asynccontextmanager
    async def leases(self) -> AsyncIterator[None]:
        """The heartbeat and reaper loop, for as long as the context lasts (the app's life)."""
        await self.tend()
        loop = asyncio.get_running_loop().create_task(self._tend_forever(), name="job-leases")
        try:
            yield
        finally:
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop

    async def tend(self) -> int:
        """One round: renew this process's leases, then reap jobs whose owner's lease ran out
        (how many were reaped)."""
        await self._store.renew()
        reaped = await self._store.reap(error_object(INTERRUPTED), error_object(NEVER_STARTED))
        if reaped:
            log.warning("finished %d async job(s) whose process stopped as failed", reaped)
        return reaped

    async def _tend_forever(self) -> None:
        interval = self._config.lease / 3
        while True:
            await asyncio.sleep(interval)
            try:
                await self.tend()
            except Exception:  # the database is away: the next round tries again
                log.warning("could not renew or reap async-job leases", exc_info=True)

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
