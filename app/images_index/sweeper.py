"""The retention sweeper: every ``storage.sweep_interval`` seconds, the process that holds the
``retention-sweep`` lease (``lease``) deletes the images whose ``expires_at`` has passed from
storage (the ``Storage`` protocol's ``delete``, local disk or object store) and marks them
deleted in the index.

Safe to run anywhere and more than once: every process runs a sweeper, and the lease lets one
of them work at a time (another takes over within the lease's life when it dies). Deleting is
idempotent in storage and marking is conditional (``deleted_at IS NULL``), so even two sweeps
overlapping after a lost lease delete nothing twice that matters and never fail. An image whose
deletion fails keeps its record unmarked and is retried by the next sweep (a batch that fails
whole ends the sweep: the storage is likely down); one warning per sweep says how many. The
sweep works in batches and renews the lease between them, stopping as soon as the lease is
another process's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from app.errors import StorageFailed
from app.images_index.lease import ReplicaLeases
from app.images_index.store import ImageIndex
from app.storage import Storage

log = logging.getLogger(__name__)

LEASE = "retention-sweep"
BATCH = 200  # images per batch (the lease is renewed between batches)
MIN_LEASE_TTL = 30.0  # seconds; a lease lives at least three intervals


@dataclass(frozen=True, slots=True)
class SweepResult:
    ran: bool = False  # False: another process holds the lease
    deleted: int = 0  # images deleted and marked
    failed: int = 0  # images whose deletion failed: retried by the next sweep


class Sweeper:
    def __init__(
        self,
        index: ImageIndex,
        storage: Storage,
        leases: ReplicaLeases,
        *,
        interval: float,
        batch: int = BATCH,
    ) -> None:
        self._index = index
        self._storage = storage
        self._leases = leases
        self._interval = interval
        self._batch = batch
        self._lease_ttl = max(3 * interval, MIN_LEASE_TTL)
        self._task: asyncio.Task[None] | None = None

    async def sweep(self) -> SweepResult:
        """One sweep, if this process holds (or can take) the lease."""
        if not await self._leases.acquire(LEASE, self._lease_ttl):
            return SweepResult()
        deleted = failed = 0
        retry: set[str] = set()  # failed in this sweep: not tried again until the next one
        while True:
            candidates = await self._index.expired(self._batch + len(retry))
            batch = [image for image in candidates if image.id not in retry][: self._batch]
            if not batch:
                break
            gone: list[str] = []
            for image in batch:
                try:
                    await self._storage.delete(image.ref)
                except StorageFailed:
                    retry.add(image.id)
                    continue
                gone.append(image.id)
            deleted += await self._index.mark_deleted(gone)
            failed = len(retry)
            if not gone or len(batch) < self._batch:  # all failed (storage down?) or done
                break
            if not await self._leases.acquire(LEASE, self._lease_ttl):
                break
        if failed:
            log.warning("retention sweep: %d expired image(s) not deleted; retrying", failed)
        if deleted:
            log.info("retention sweep: %d expired image(s) deleted", deleted)
        return SweepResult(ran=True, deleted=deleted, failed=failed)

    def start(self) -> None:
        """Sweep every ``interval`` seconds on the running loop (the first one ``interval``
        after start), until :meth:`close`."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="sweeper")

    async def close(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None
        with contextlib.suppress(Exception):  # a database already gone: the lease expires
            await self._leases.release(LEASE)

    async def _run(self) -> None:
        while True:  # the first sweep one interval after start: a start costs no extra writes
            await asyncio.sleep(self._interval)
            try:
                await self.sweep()
            except Exception as exc:  # the database is down: try again next time
                log.warning("retention sweep failed (%s); retrying", type(exc).__name__)
