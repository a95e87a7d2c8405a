"""The usage ledger: one ``usage_records`` row per request and one ``images`` row per image it
stored (the image index: ``app.images_index.rows``), in the database, written in batches off
the request path.

``write`` (the record stage's sink call) only appends the record to a bounded buffer. A
background flusher writes what the buffer holds within ``ledger.flush_interval`` (250 ms by
default) of its arrival, many rows per transaction, and once more at shutdown. When the database
fails, the batch is kept and retried with backoff, with one warning per outage: requests never
wait for the ledger and never fail because of it. Inserts ignore rows already written, so a
batch retried after a commit whose answer was lost is not counted twice. A buffer that fills up
during a long outage drops new rows, counted in the log.

A replay costs nothing and says so (``replay``, settled cost 0), and stores no new image.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import deque
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config.runtime import LedgerConfig
from app.db.models import ImageRecord
from app.db.models import UsageRecord as UsageRow
from app.db.types import from_timestamp
from app.domain import UsageRecord
from app.images_index.rows import ImageRows

log = logging.getLogger(__name__)

BATCH = 500  # records per transaction
BACKOFF = (0.25, 0.5, 1.0, 2.0, 5.0)  # seconds between retries while the database is down
SHUTDOWN_WAIT = 5.0  # seconds the last rows may wait for the database at shutdown
Rows = tuple[list[dict[str, Any]], list[dict[str, Any]]]


class LedgerSink:
    def __init__(
        self, engine: AsyncEngine, config: LedgerConfig, images: ImageRows | None = None
    ) -> None:
        self._engine = engine
        self._images = images or ImageRows(store_prompts=config.store_prompts)
        self._window = config.flush_interval * 0.4  # gather a batch, then write it
        self._max = config.max_queue
        self._buffer: deque[UsageRecord] = deque()
        self._held: Rows | None = None  # a converted batch not yet written
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failures = 0
        self._dropped = 0
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    def write(self, record: UsageRecord) -> None:
        if len(self._buffer) >= self._max:
            self._dropped += 1
            if self._dropped in (1, 10, 100) or self._dropped % 1000 == 0:
                log.error(
                    "usage ledger full (%d rows): %d row(s) dropped", self._max, self._dropped
                )
            return
        self._buffer.append(record)
        self._wake.set()

    def start(self) -> None:
        """Run the flusher (on the running loop) until :meth:`close`."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="ledger")

    async def close(self) -> None:
        """Stop the flusher and write what is left, trying for up to ``SHUTDOWN_WAIT`` s."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        for _ in range(round(SHUTDOWN_WAIT / BACKOFF[0])):
            if await self.flush():
                return
            await asyncio.sleep(BACKOFF[0])
        log.error("usage ledger: %d row(s) could not be written at shutdown", self.pending)

    @property
    def pending(self) -> int:
        """Records not yet written."""
        return len(self._buffer) + (len(self._held[0]) if self._held else 0)

    async def flush(self) -> bool:
        """Write everything buffered now; False when the database failed (rows are kept)."""
        while self._held is not None or self._buffer:
            if self._held is None:
                batch = [self._buffer.popleft() for _ in range(min(BATCH, len(self._buffer)))]
                self._held = self._rows(batch)
            try:
                await self._write(*self._held)
            except Exception as exc:  # any database failure: keep the rows, say so once
                self._failures += 1
                if self._failures == 1:
                    log.warning(
                        "usage ledger: cannot write to the database (%s); %d row(s) held, retrying",
                        type(exc).__name__,
                        self.pending,
                    )
                return False
            self._held = None
            if self._failures:
                log.info("usage ledger: database back after %d failed write(s)", self._failures)
                self._failures = 0
        return True

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self._window)
            self._wake.clear()
            if not await self.flush():
                await asyncio.sleep(BACKOFF[min(self._failures, len(BACKOFF)) - 1])
                self._wake.set()

    async def _write(self, usage: list[dict[str, Any]], images: list[dict[str, Any]]) -> None:
        async with self._engine.begin() as connection:
            if usage:
                await connection.execute(self._insert(UsageRow).on_conflict_do_nothing(), usage)
            if images:
                await connection.execute(self._insert(ImageRecord).on_conflict_do_nothing(), images)

    def _rows(self, records: list[UsageRecord]) -> Rows:
        usage: list[dict[str, Any]] = []
        images: list[dict[str, Any]] = []
        for record in records:
            usage.append(usage_row(record))
            images.extend(self._images.rows(record))
        return usage, images


def usage_row(record: UsageRecord) -> dict[str, Any]:
    return {
        "id": "use_" + secrets.token_hex(12),
        "request_id": record.request_id[:64],
        "key_id": record.principal_id,
        "team_id": record.team,
        "model": record.model,
        "carrier": record.carrier,
        "attempts": len(record.attempts),
        "outcome": record.outcome,
        "error_code": record.error_code,
        "images": record.images,
        "pixels": record.pixels or 0,
        "size": record.size,
        "quality": record.quality,
        "output_format": record.output_format,
        "usage_tokens": record.usage,
        "estimated_cost_nanos": record.estimated_cost_nanos,
        "settled_cost_nanos": record.cost_nanos,
        "latency_ms": round(record.latency * 1000),
        "stream": record.stream,
        "async_job": record.async_job,
        "replay": record.replay,
        "client_gone": record.client_gone,
        "created_at": from_timestamp(record.created_at),
    }
