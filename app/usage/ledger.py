"""The usage ledger: one ``usage_records`` row per request and one ``images`` row per image it
stored (the image index: ``app.images_index.rows``), in the database, written in batches off
the request path; and the budget charges of those requests, in the same transaction as their
rows.

``write`` (the record stage's sink call) only appends the record to a bounded buffer. A
background flusher writes what the buffer holds within ``ledger.flush_interval`` (250 ms by
default) of its arrival, many rows per transaction, and once more at shutdown. One transaction
per batch inserts its usage rows and image rows (one executemany each, of rows converted for
the driver when the batch is built: ``app.db.bulk``) and moves its requests' charges from held
to spent on their budget leases (``Leases.draws``, ``Budgets.draw_in``): a charge and its row
commit together or not at all, so a crash never leaves a charged budget without its row, nor a
row without its charge.

When the database fails, the batch is kept and retried with backoff, with one warning per
outage: requests never wait for the ledger and never fail because of it. A retried batch whose
earlier commit did go through (its answer was lost) finds its first row already there and
counts nothing twice. A buffer that fills up during a long outage drops new rows, counted in the
log, but never a row that carries a charge (those are few: with the database down, leases cannot
grow, so they admit only what they already hold).

A replay costs nothing and says so (``replay``, settled cost 0), and stores no new image.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.access.settlement import charged_nanos
from app.config.runtime import LedgerConfig
from app.db.bulk import BulkInsert
from app.db.engine import write_turn
from app.db.models import ImageRecord
from app.db.models import UsageRecord as UsageRow
from app.db.types import from_timestamp
from app.domain import UsageRecord
from app.images_index.rows import ImageRows

if TYPE_CHECKING:
    from app.access.leases import LeaseDraw, Leases

log = logging.getLogger(__name__)

BATCH = 500  # records per transaction
BACKOFF = (0.25, 0.5, 1.0, 2.0, 5.0)  # seconds between retries while the database is down
SHUTDOWN_WAIT = 5.0  # seconds the last rows may wait for the database at shutdown
USAGE = cast(Table, UsageRow.__table__)
IMAGES = cast(Table, ImageRecord.__table__)


@dataclass(slots=True)
class Batch:
    """One transaction's worth: usage rows, image rows (as the driver takes them: ``BulkInsert``
    values), and the budget draws of their charges."""

    usage: list[tuple[Any, ...]] = field(default_factory=list)
    images: list[tuple[Any, ...]] = field(default_factory=list)
    first_id: str = ""  # the first usage row's: found in the table, the batch was written
    draws: list[LeaseDraw] = field(default_factory=list)
    spent: dict[tuple[str, datetime], int] = field(default_factory=dict)  # watched budgets


class LedgerSink:
    def __init__(
        self,
        engine: AsyncEngine,
        config: LedgerConfig,
        leases: Leases | None = None,
        images: ImageRows | None = None,
    ) -> None:
        self._engine = engine
        self._leases = leases
        self._images = images or ImageRows(store_prompts=config.store_prompts)
        # Gather for 60% of the interval, then write: the rest is left for the write itself
        # (a few ms, longer while the event loop is busy). Larger batches cost less per row.
        self._window = config.flush_interval * 0.6
        self._max = config.max_queue
        self._buffer: deque[UsageRecord] = deque()
        self._held: Batch | None = None  # a built batch not yet written
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failures = 0
        self._dropped = 0
        dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
        self._usage_insert = BulkInsert(insert(USAGE), engine.dialect)
        self._image_insert = BulkInsert(
            dialect.insert(IMAGES).on_conflict_do_nothing(), engine.dialect
        )

    def write(self, record: UsageRecord) -> None:
        if len(self._buffer) >= self._max and not _charges(record):
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
        """Stop the flusher and write what is left, trying for up to ``SHUTDOWN_WAIT`` s; then
        give back the budget leases' unused room."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        for _ in range(round(SHUTDOWN_WAIT / BACKOFF[0])):
            if await self.flush() and not self._buffer:
                break
            await asyncio.sleep(BACKOFF[0])
        else:
            log.error("usage ledger: %d row(s) could not be written at shutdown", self.pending)
        if self._leases is not None:
            await self._leases.close()

    @property
    def pending(self) -> int:
        """Records not yet written."""
        return len(self._buffer) + (len(self._held.usage) if self._held else 0)

    async def flush(self) -> bool:
        """Write what is buffered now; False when the database failed (rows are kept). Rows
        that arrive meanwhile wait for the next flush: chasing them would write a batch of the
        few rows that came during each write, a transaction per handful of requests."""
        left = len(self._buffer)
        while self._held is not None or left:
            if self._held is None:
                count = min(BATCH, left, len(self._buffer))
                left -= count
                self._held = self._batch([self._buffer.popleft() for _ in range(count)])
            try:
                await self._write(self._held)
            except Exception as exc:  # any database failure: keep the rows, say so once
                self._failures += 1
                if self._failures == 1:
                    log.warning(
                        "usage ledger: cannot write to the database (%s); %d row(s) held, retrying",
                        type(exc).__name__,
                        self.pending,
                    )
                return False
            if self._leases is not None and self._held.draws:
                self._leases.drawn(self._held.draws, self._held.spent)
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

    async def _write(self, batch: Batch) -> None:
        """One transaction: the usage rows first (a write first: SQLite takes its lock at once),
        the image rows, the charges. A batch committed before (its answer lost) is not
        written again."""
        try:
            async with write_turn(self._engine), self._engine.begin() as connection:
                if batch.usage:
                    await self._usage_insert.run(connection, batch.usage)
                if batch.images:
                    await self._image_insert.run(connection, batch.images)
                if batch.draws and self._leases is not None:
                    draws = [draw for _, draw in batch.draws]
                    watched = self._leases.watched(batch.draws)
                    batch.spent = await self._leases.budgets.draw_in(
                        connection, draws, spent_of=watched
                    )
        except IntegrityError:
            if not batch.usage or not await self._written(batch.first_id):
                raise

    async def _written(self, usage_id: str) -> bool:
        async with self._engine.connect() as connection:
            found = await connection.scalar(select(USAGE.c.id).where(USAGE.c.id == usage_id))
        return found is not None

    def _batch(self, records: list[UsageRecord]) -> Batch:
        prefix = "use_" + secrets.token_hex(8)  # 64 random bits a batch, then a counter
        batch = Batch(first_id=f"{prefix}{0:08x}")
        charges: dict[str, int] = {}
        images = self._images
        usage_values, image_values = self._usage_insert.values, self._image_insert.values
        for index, record in enumerate(records):
            batch.usage.append(usage_values(usage_row(record, f"{prefix}{index:08x}")))
            if record.stored:
                batch.images.extend(map(image_values, images.rows(record)))
            charged = _charges(record)
            if charged:
                lease_id, amount = charged
                charges[lease_id] = charges.get(lease_id, 0) + amount
        if charges and self._leases is not None:
            batch.draws = self._leases.draws(charges)
        return batch


def _charges(record: UsageRecord) -> tuple[str, int] | None:
    """(the budget lease, the charge) a record brings to its batch, if any."""
    charge = record.charge
    if charge is None or charge.hold_id is None:
        return None
    amount = charged_nanos(record)
    return (charge.hold_id, amount) if amount else None


def usage_row(record: UsageRecord, row_id: str | None = None) -> dict[str, Any]:
    return {
        "id": row_id or "use_" + secrets.token_hex(12),
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
