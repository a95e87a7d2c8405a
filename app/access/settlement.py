"""Settlement: what admission took for a request is given back when the request ends, driven
by its one :class:`UsageRecord` (a usage sink), so it happens for every outcome: success,
failure, replay, stream, async job, and a client that left.

The budget hold is settled at the real cost (the estimate when a succeeded request's cost is
unknown; nothing for a failure or a replay) in the budget lease, in memory, at once; the charge
reaches the database with the request's usage row, in one transaction of the ledger
(``app.usage.ledger``, ``app.access.leases``). Concurrency slots (the request's own entries,
so giving one back twice never frees another's) are freed off the request path, shielded
from cancellation; :meth:`Settlement.close` gives back what is left at shutdown (the ledger's
close then writes the last charges and gives back the leases).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from app.domain import Charge, UsageRecord
from app.state.base import Counters, Slot

if TYPE_CHECKING:  # the database layer is loaded only when there is a database
    from app.access.leases import Leases

SLOT_LIFETIME = 3600.0  # seconds an in-flight slot lives unless given back (wiring: the deadline)
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
    """The usage sink that gives back budget holds and concurrency slots."""

    def __init__(self, counters: Counters, leases: Leases | None, spawn: Spawn) -> None:
        self._counters = counters
        self._leases = leases
        self._spawn = spawn
        self._slots: list[Slot] = []
        self._running: asyncio.Task[None] | None = None

    def write(self, record: UsageRecord) -> None:
        charge = record.charge
        if charge is None:
            return
        if charge.hold_id is not None and self._leases is not None:  # in memory: at once
            self._leases.give_back(charge.hold_id, charge.estimate_nanos, charged_nanos(record))
        if charge.concurrency and charge.slot_holder is not None:
            self._slots.extend(Slot(counter, charge.slot_holder) for counter in charge.concurrency)
            if self._running is None:
                self._running = self._spawn(self._drain(), "settlement")

    async def close(self) -> None:
        """Give back the pending slots (at shutdown, after in-flight work ended)."""
        if self._running is not None:
            await asyncio.wait([self._running])
        if self._slots:
            await self._drain()

    async def _drain(self) -> None:
        try:
            while self._slots:
                slots, self._slots = self._slots, []
                await asyncio.shield(self._free(slots))
        finally:
            self._running = None

    async def _free(self, slots: list[Slot]) -> None:
        await self._counters.give_back(slots)  # with Redis: one round trip for them all
