"""Settlement: what admission took for a request is given back when the request ends, driven
by its one :class:`UsageRecord` (a usage sink), so it happens for every outcome: success,
failure, replay, stream, async job, and a client that left.

The budget hold is settled at the real cost (the estimate when a succeeded request's cost is
unknown; nothing for a failure or a replay) and the concurrency slots are freed. Records are
settled in batches, one transaction each, off the request path and shielded from
cancellation; :meth:`Settlement.close` settles what is left at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from app.db.budgets import Budgets
from app.domain import Charge, UsageRecord
from app.state.base import Counters

log = logging.getLogger(__name__)

SETTLE_ATTEMPTS = 3
CONCURRENCY_WINDOW = 1e9  # seconds: the in-flight counters never roll over
Spawn = Callable[[Coroutine[Any, Any, None], str], "asyncio.Task[None]"]


def charged_nanos(record: UsageRecord) -> int:
    """What the request is charged: its cost, the estimate when a success has no known cost,
    nothing for a failure or a replay (or a repeated async request)."""
    if record.outcome != "succeeded" or record.replay:
        return 0
    if record.cost_nanos is not None:
        return record.cost_nanos
    return record.charge.estimate_nanos if record.charge is not None else 0


def remaining_after(charge: Charge, charged: int) -> int | None:
    """The budget left once ``charged`` replaces the hold (as of this request's admission)."""
    if charge.remaining_nanos is None:
        return None
    return max(0, charge.remaining_nanos + charge.estimate_nanos - charged)


class Settlement:
    """The usage sink that gives back holds and concurrency slots."""

    def __init__(self, counters: Counters, budgets: Budgets | None, spawn: Spawn) -> None:
        self._counters = counters
        self._budgets = budgets
        self._spawn = spawn
        self._pending: list[tuple[Charge, int]] = []
        self._running: asyncio.Task[None] | None = None

    def write(self, record: UsageRecord) -> None:
        if record.charge is None:
            return
        self._pending.append((record.charge, charged_nanos(record)))
        if self._running is None:
            self._running = self._spawn(self._drain(), "settlement")

    async def close(self) -> None:
        """Settle everything still pending (at shutdown, after in-flight work ended)."""
        if self._running is not None:
            await asyncio.wait([self._running])
        if self._pending:
            await self._drain()

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                await asyncio.shield(self._settle(batch))
        finally:
            self._running = None

    async def _settle(self, batch: list[tuple[Charge, int]]) -> None:
        for charge, _ in batch:
            for counter in charge.concurrency:
                await self._counters.add(counter, -1, CONCURRENCY_WINDOW)
        holds = [(c.hold_id, amount) for c, amount in batch if c.hold_id is not None]
        if not holds or self._budgets is None:
            return
        for attempt in range(SETTLE_ATTEMPTS):
            try:
                await self._budgets.settle_many(holds)
                return
            except Exception:
                log.exception("settling %d budget hold(s) failed (try %d)", len(holds), attempt + 1)
                await asyncio.sleep(0.5 * (attempt + 1))
        # The holds stay held (the budget stays safe); release_stale frees them at next start.
