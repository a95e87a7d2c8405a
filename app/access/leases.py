"""Budget leases: the database off the request path, the cap still exact.

A lease is one database hold per set of budgets (a key, and its team, for their current
periods) that this process draws on for many requests. A request fits when the lease's
in-flight estimates plus its charges not yet written stay within what the hold grants: then
admission holds it in memory, with no database work. When it does not fit, the lease grows
with the same atomic conditional update as a single reservation (``Budgets.grow``): first by
room for ``CHUNK`` more such requests, else by exactly what is missing; if even that does not
fit, the request is refused. A lease left with room for fewer than ``REFILL_AT`` such requests
tops itself up to ``CHUNK`` in the background, so in steady use no request waits for the
database (on SQLite a growth can wait seconds for the write lock behind the ledger's batches).
So the database's ``spent + held`` never passes a budget, across
processes and replicas, and a lease gives no request more than a reservation of its own would.

A finished request's charge stays in the lease (still held) until the usage ledger writes it:
the ledger asks :meth:`Leases.draws` for the charges of a batch, moves them from held to spent
in the same transaction as the batch's usage rows (``Budgets.draw_in``), and tells
:meth:`Leases.drawn` once that committed. So a charge and its ledger row commit together, or
neither does. Every ``interval`` seconds the leases write only their own bookkeeping: a lease
idle for a whole interval, with no charge waiting for the ledger, is written off and its unused
room given back, so others (keys of the same team, other replicas) can use it; a hold in use is
renewed, so it never looks stale to a process starting up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from app.db.budgets import Budgets, Claim, Draw

log = logging.getLogger(__name__)

MAX_FAILURES = 5  # writes in a row before the charges are given up (logged)
CHUNK = 32  # a lease grows by room for this many requests like the one that did not fit
REFILL_AT = CHUNK // 2  # room for fewer requests than this: top up to CHUNK, off the request path
Spawn = Callable[[Coroutine[Any, Any, None], str], Any]
TEAM = "team:"  # a team's budget owner: "team:<team>"
LeaseDraw = tuple[str, Draw]  # (the lease's id, what the ledger writes for it)


@dataclass(eq=False)
class _Lease:
    claims: Sequence[Claim]
    hold_id: str | None = None
    granted: int = 0  # what the database holds for this lease
    in_flight: int = 0  # estimates of admitted requests still running
    charged: int = 0  # charges of finished requests the ledger has not committed yet
    remaining: int | None = None  # budget left outside the lease, at its last growth
    active: bool = True  # admitted a request since the last write
    closed: bool = False
    refilling: bool = False  # a background top-up is on its way
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def fits(self, amount: int) -> bool:
        return not self.closed and self.in_flight + self.charged + amount <= self.granted

    def room(self) -> int:
        return self.granted - self.in_flight - self.charged

    def take(self, amount: int) -> int | None:
        self.in_flight += amount
        self.active = True
        room = self.granted - self.in_flight - self.charged
        return None if self.remaining is None else self.remaining + room


class Leases:
    def __init__(
        self,
        budgets: Budgets,
        spawn: Spawn | None = None,
        *,
        interval: float = 1.0,
        hold_for: timedelta = timedelta(hours=1),
        team_budget_left: Callable[[str, int], None] | None = None,
    ) -> None:
        self.budgets = budgets
        # The writer is the process's own chore, not a request: shutdown does not wait for it
        # to find the leases idle (up to two intervals); ``close`` stops it at once.
        self._spawn = spawn or _background
        self._stop = asyncio.Event()
        self._interval = interval
        self._hold_for = hold_for  # the recorded deadline of a lease's hold
        self._team_budget_left = team_budget_left  # (team, nano-dollars left) after a draw
        self._leases: dict[str, _Lease] = {}
        self._unwritten: list[Draw] = []
        self._failures = 0  # writes failed in a row
        self._writer: Any = None
        self._refills: set[asyncio.Task[None]] = set()
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
                left = lease.take(amount)
                if lease.room() < REFILL_AT * amount:
                    self._refill_soon(lease, amount)
                return key, left
            async with lease.lock:
                if lease.closed:
                    continue  # written off meanwhile: start a new lease
                if lease.fits(amount) or await self._grow(lease, amount, request_id):
                    return key, lease.take(amount)
                return None

    def give_back(self, lease_id: str, estimate: int, charge: int) -> None:
        """A request ended: its estimate leaves the lease; its charge stays held until the
        ledger commits it with the request's row (:meth:`drawn`)."""
        lease = self._leases.get(lease_id)
        if lease is None:  # only after close(): nothing is written any more
            log.warning("a request ended after its budget lease was closed")
            return
        lease.in_flight -= estimate
        lease.charged += charge

    def draws(self, charges: Mapping[str, int]) -> list[LeaseDraw]:
        """What the ledger writes for a batch: per lease id, its requests' charges (nano-dollars)
        drawn from its hold. A lease stays open while a charge of it waits for the ledger."""
        out = []
        for lease_id, charge in charges.items():
            lease = self._leases.get(lease_id)
            if lease is None or lease.hold_id is None:  # nothing held: nothing to draw from
                log.warning("a charge of %d nano-dollars has no budget lease", charge)
                continue
            out.append((lease_id, Draw(lease.hold_id, charge, 0, lease.claims)))
        return out

    def watched(self, draws: Iterable[LeaseDraw]) -> set[str]:
        """The budget owners whose spend the ledger reads back after drawing: the teams, when
        someone follows their budgets (the metrics, with team labels on)."""
        if self._team_budget_left is None:
            return set()
        return {c.owner for _, d in draws for c in d.claims if c.owner.startswith(TEAM)}

    def drawn(
        self, draws: Iterable[LeaseDraw], spent: Mapping[tuple[str, datetime], int] | None = None
    ) -> None:
        """The ledger committed these draws: the charges left the holds. ``spent``: what the
        watched budgets have spent now, per (owner, period start)."""
        for lease_id, draw in draws:
            lease = self._leases.get(lease_id)
            if lease is not None and lease.hold_id == draw.hold_id:
                lease.charged -= draw.charge
                lease.granted -= draw.charge
            if spent and self._team_budget_left is not None:
                for claim in draw.claims:
                    now = spent.get((claim.owner, claim.period_start))
                    if now is not None:
                        left = max(0, claim.budget_nanos - now)
                        self._team_budget_left(claim.owner.removeprefix(TEAM), left)

    async def close(self) -> None:
        """Give back every lease's unused room (at shutdown, after the ledger's last write).
        A charge the ledger could not write stays held, with its row unwritten: neither is
        counted, and the hold is released at the next start."""
        self._closing = True
        self._stop.set()
        if self._refills:
            await asyncio.wait(list(self._refills))
        writer = self._writer
        if isinstance(writer, asyncio.Task) and writer is not asyncio.current_task():
            await asyncio.wait([writer])  # it ends at once, after a write in progress
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

    def _refill_soon(self, lease: _Lease, amount: int) -> None:
        if lease.refilling or lease.hold_id is None or lease.closed or self._closing:
            return
        lease.refilling = True
        task = self._spawn(self._refill(lease, amount), "budget-lease-refill")
        if isinstance(task, asyncio.Task):
            self._refills.add(task)
            task.add_done_callback(self._refills.discard)
        else:
            lease.refilling = False

    async def _refill(self, lease: _Lease, amount: int) -> None:
        """Top the lease up to room for ``CHUNK`` requests, if the budgets have it; when they
        do not, the requests grow it by exactly what they need, as before."""
        try:
            async with lease.lock:
                more = CHUNK * amount - lease.room()
                if lease.closed or self._closing or lease.hold_id is None or more <= 0:
                    return
                remaining = await self.budgets.grow(lease.hold_id, lease.claims, more)
                if remaining is not None:
                    lease.remaining = remaining
                    lease.granted += more
        except Exception:  # the requests grow the lease themselves when they need to
            log.warning("topping up a budget lease failed", exc_info=True)
        finally:
            lease.refilling = False

    def _start_writer(self) -> None:
        if self._writer is None:
            self._writer = self._spawn(self._writing(), "budget-leases")

    async def _writing(self) -> None:
        try:
            while not self._closing and (self._leases or self._unwritten):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self._interval)
                if self._closing:
                    break
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
            close = idle and lease.charged == 0  # a charge waiting for the ledger keeps its hold
            if lease.hold_id is not None:
                draws.append(Draw(lease.hold_id, 0, max(0, release), lease.claims, close))
            lease.granted -= max(0, release)
            lease.active = False
            if close or everything:
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


def _background(work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
    return asyncio.get_running_loop().create_task(work, name=name)
