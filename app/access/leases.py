"""Budget leases: the database off the request path, the cap still exact.

A lease is one database hold per set of budgets (a key, and its team, for their current
periods) that this process draws on for many requests. A request fits when the lease's
in-flight estimates plus its charges not yet written stay within what the hold grants: then
admission holds it in memory, with no database work. When it does not fit, the lease grows
with the same atomic conditional update as a single reservation (``Budgets.grow``): first by
room for ``CHUNK`` more such requests, else by exactly what is missing; if even that does not
fit, the request is refused. So the database's ``spent + held`` never passes a budget, across
processes and replicas, and a lease gives no request more than a reservation of its own would.

Finished requests are charged in memory and written every ``interval`` seconds in one
transaction (``Budgets.draw_many``): the charge moves from held to spent. A lease idle for a
whole interval is written off and its unused room given back, so others (keys of the same
team, other replicas) can use it; a hold in use is renewed at each write, so it never looks
stale to a process starting up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from app.db.budgets import Budgets, Claim, Draw

log = logging.getLogger(__name__)

MAX_FAILURES = 5  # writes in a row before the charges are given up (logged)
CHUNK = 32  # a lease grows by room for this many requests like the one that did not fit
Spawn = Callable[[Coroutine[Any, Any, None], str], Any]


@dataclass(eq=False)
class _Lease:
    claims: Sequence[Claim]
    hold_id: str | None = None
    granted: int = 0  # what the database holds for this lease
    in_flight: int = 0  # estimates of admitted requests still running
    charged: int = 0  # charges of finished requests not yet written
    remaining: int | None = None  # budget left outside the lease, at its last growth
    active: bool = True  # admitted a request since the last write
    closed: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def fits(self, amount: int) -> bool:
        return not self.closed and self.in_flight + self.charged + amount <= self.granted

    def take(self, amount: int) -> int | None:
        self.in_flight += amount
        self.active = True
        room = self.granted - self.in_flight - self.charged
        return None if self.remaining is None else self.remaining + room


class Leases:
    def __init__(
        self,
        budgets: Budgets,
        spawn: Spawn,
        *,
        interval: float = 1.0,
        hold_for: timedelta = timedelta(hours=1),
    ) -> None:
        self.budgets = budgets
        self._spawn = spawn
        self._interval = interval
        self._hold_for = hold_for  # the recorded deadline of a lease's hold
        self._leases: dict[str, _Lease] = {}
        self._unwritten: list[Draw] = []
        self._failures = 0  # writes failed in a row
        self._writer: Any = None
        self._closing = False

    async def take(
        self, claims: Sequence[Claim], amount: int, request_id: str
    ) -> tuple[str, int | None] | None:
        """Hold ``amount`` on every claim's budget: (the lease's id, the least budget left),
        or None when it does not fit."""
        key = "|".join(f"{c.owner}@{c.period_start.isoformat()}" for c in claims)
        while True:
            lease = self._leases.get(key)
            if lease is None:
                lease = self._leases[key] = _Lease(claims)
                self._start_writer()
            if lease.fits(amount):
                return key, lease.take(amount)
            async with lease.lock:
                if lease.closed:
                    continue  # written off meanwhile: start a new lease
                if lease.fits(amount) or await self._grow(lease, amount, request_id):
                    return key, lease.take(amount)
                return None

    def give_back(self, lease_id: str, estimate: int, charge: int) -> None:
        """A request ended: its estimate leaves the lease, its charge is written later."""
        lease = self._leases.get(lease_id)
        if lease is None:  # only after close(): nothing is written any more
            log.warning("a request ended after its budget lease was closed")
            return
        lease.in_flight -= estimate
        lease.charged += charge

    async def close(self) -> None:
        """Write everything and give back every lease's room (at shutdown)."""
        self._closing = True
        await self._write(everything=True)

    async def _grow(self, lease: _Lease, amount: int, request_id: str) -> bool:
        """Room for ``CHUNK`` more requests if the budgets have it, else exactly enough."""
        missing = lease.in_flight + lease.charged + amount - lease.granted
        for more in (missing + CHUNK * amount, missing):
            if lease.hold_id is None:
                deadline = datetime.now(UTC) + self._hold_for
                hold = await self.budgets.reserve(
                    lease.claims, more, request_id=request_id, deadline=deadline
                )
                if hold is None:
                    continue
                lease.hold_id, lease.remaining = hold.id, hold.remaining_nanos
            else:
                remaining = await self.budgets.grow(lease.hold_id, lease.claims, more)
                if remaining is None:
                    continue
                lease.remaining = remaining
            lease.granted += more
            return True
        return False

    def _start_writer(self) -> None:
        if self._writer is None:
            self._writer = self._spawn(self._writing(), "budget-leases")

    async def _writing(self) -> None:
        try:
            while not self._closing and (self._leases or self._unwritten):
                await asyncio.sleep(self._interval)
                await asyncio.shield(self._write())
        finally:
            self._writer = None

    async def _write(self, *, everything: bool = False) -> None:
        draws, self._unwritten = self._unwritten, []
        for key, lease in list(self._leases.items()):
            if lease.lock.locked() and not everything:
                continue  # growing: next time
            idle = everything or (lease.in_flight == 0 and not lease.active)
            release = lease.granted - lease.charged - lease.in_flight if idle else 0
            if lease.hold_id is not None:
                draw = Draw(lease.hold_id, lease.charged, max(0, release), lease.claims, idle)
                draws.append(draw)
            lease.granted -= lease.charged + max(0, release)
            lease.charged, lease.active = 0, False
            if idle:
                lease.closed = True
                del self._leases[key]
        if not draws:
            return
        try:
            await self.budgets.draw_many(draws)
            self._failures = 0
        except Exception:  # the database keeps holding more than needed: safe; retried
            self._failures += 1
            if self._failures >= MAX_FAILURES:  # the holds stay: released at the next start
                log.exception("writing %d budget lease(s) failed; giving up", len(draws))
                self._failures = 0
                return
            log.warning("writing %d budget lease(s) failed; retrying", len(draws), exc_info=True)
            self._unwritten.extend(draws)
