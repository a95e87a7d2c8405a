"""Admission: the stage between normalize and route. Once per request, before any upstream
work: the policy (``app.access.policy.check``), the rate and concurrency counters (the
``Counters`` protocol: in memory, or shared through Redis in one round trip), and the budget
hold of the request's worst-case cost, held on the key and its team for their current
periods: in memory from a lease while it has room, else with one atomic conditional update
(``app.access.leases``).

What admission takes travels as a :class:`Charge` on the request's usage record; the record
stage gives it back (``app.access.settlement``). A refusal gives back what it took at once.
Keys without rate limits or budgets cost nothing here: no counter, no database.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from app.access import policy
from app.access.demand import demand_of
from app.access.settlement import SLOT_LIFETIME
from app.core.catalog import Catalog, ModelSpec
from app.db.claims import Claim, Spend, period_start
from app.domain import NO_LIMITS, Charge, ImageJob, Limits, Principal
from app.state.base import Counters, Slot, Take

if TYPE_CHECKING:  # the database layer is loaded only when there is a database
    from app.access.leases import Leases

WINDOW = 60.0  # seconds: requests_per_minute and images_per_minute
STALE_MARGIN = timedelta(minutes=1)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class BudgetState:
    """A budget as ``GET /v1/key`` shows it."""

    budget_nanos: int
    period: str
    period_start: datetime
    spend: Spend


class Admission:
    def __init__(
        self,
        counters: Counters,
        leases: Leases | None,
        enabled_carriers: Collection[str],
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = _utcnow,
        slot_lifetime: float = SLOT_LIFETIME,
    ) -> None:
        self._counters = counters
        self._slot_lifetime = slot_lifetime  # the longest a request runs: its slots die then
        self._leases = leases
        self._enabled = frozenset(enabled_carriers)
        self._clock = clock  # the counters' clock: their windows align to it
        self._now = now

    async def admit(
        self, principal: Principal, job: ImageJob, spec: ModelSpec, request_id: str
    ) -> Charge | None:
        """What this request holds until it ends (None: nothing); raises the refusal."""
        now = self._now()
        if principal.limits is NO_LIMITS and principal.team_limits is NO_LIMITS:
            policy.check(principal, now)  # config keys, an open gateway: nothing to count
            return None
        routes = [route for route in spec.routes if route.carrier in self._enabled]
        demand, worst = demand_of(job, spec, routes, now.date())
        claims = self._claims(principal, now)
        if not any(limits.rated for _, _, limits in _scopes(principal)):
            policy.check(principal, now, demand)
            taken: list[Take] = []
        else:
            loads, taken = await self._count(principal, job.n)
            try:
                policy.check(principal, now, demand, loads)
            except BaseException:
                await self._give_back(taken)
                raise
        slots = [t for t in taken if t.holder is not None]
        concurrency = tuple(t.counter for t in slots)
        holder = slots[0].holder if slots else None
        if not claims or worst is None:  # unpriced with a budget was refused above
            return Charge(concurrency=concurrency, slot_holder=holder) if concurrency else None
        assert self._leases is not None  # claims exist only with a database
        held = await self._leases.take(claims, worst, request_id)
        if held is None:
            await self._give_back(taken)
            raise policy.over_budget(principal, worst)
        lease_id, remaining = held
        return Charge(lease_id, worst, remaining, concurrency, holder)

    async def release_stale(self, catalog: Catalog) -> int:
        """At start: free the holds a crashed process left, once older than the longest
        deadline of any model (a live request's hold is never that old)."""
        if self._leases is None:
            return 0
        longest = max(max((m.timeout, *m.timeout_by_quality.values())) for m in catalog.models)
        older_than = self._now() - timedelta(seconds=longest) - STALE_MARGIN
        return await self._leases.budgets.release_stale(older_than)

    async def loads(self, principal: Principal) -> dict[str, policy.Load]:
        """The rate counters' state now, per scope, without counting anything."""
        out = {}
        reset = WINDOW - self._clock() % WINDOW
        for scope, owner, limits in _scopes(principal):
            if limits.rated:
                out[scope] = policy.Load(
                    requests=await self._counters.add(f"rpm:{owner}", 0, WINDOW),
                    images=await self._counters.add(f"ipm:{owner}", 0, WINDOW),
                    concurrent=await self._in_flight(f"cc:{owner}"),
                    reset=reset,
                )
        return out

    async def budgets(self, principal: Principal) -> dict[str, BudgetState]:
        """Each budget that applies (``key``, ``team``) with its spend this period."""
        out = {}
        now = self._now()
        for scope, owner, limits in _scopes(principal):
            if limits.budget_nanos is not None and self._leases is not None:
                start = period_start(limits.budget_period, now)
                spend = await self._leases.budgets.spend(owner, start)
                out[scope] = BudgetState(limits.budget_nanos, limits.budget_period, start, spend)
        return out

    def _claims(self, principal: Principal, now: datetime) -> list[Claim]:
        if self._leases is None:
            return []
        return [
            Claim(owner, period_start(limits.budget_period, now), limits.budget_nanos)
            for _, owner, limits in _scopes(principal)
            if limits.budget_nanos is not None
        ]

    async def _count(
        self, principal: Principal, images: int
    ) -> tuple[dict[str, policy.Load], list[Take]]:
        """Count this request on every limited scope at once (one ``take_all``: with Redis,
        one round trip); the loads as they were before it. A refused request is not counted
        (its loads make ``policy.check`` raise the refusal)."""
        items: list[Take] = []
        names: list[tuple[str, str]] = []
        holder = secrets.token_hex(12)  # this request's entry in each in-flight counter
        for scope, owner, limits in _scopes(principal):
            if limits.requests_per_minute is not None:
                items.append(Take(f"rpm:{owner}", 1, WINDOW, limits.requests_per_minute))
                names.append((scope, "requests"))
            if limits.images_per_minute is not None:
                items.append(Take(f"ipm:{owner}", images, WINDOW, limits.images_per_minute))
                names.append((scope, "images"))
            if limits.max_concurrent is not None:
                slot = Take(f"cc:{owner}", 1, self._slot_lifetime, limits.max_concurrent, holder)
                items.append(slot)
                names.append((scope, "concurrent"))
        result = await self._counters.take_all(items)
        reset = WINDOW - self._clock() % WINDOW if result.reset is None else result.reset
        counts: dict[str, dict[str, int]] = {s: {} for s, _, _ in _scopes(principal)}
        for (scope, name), before in zip(names, result.before, strict=True):
            counts[scope][name] = before
        loads = {scope: policy.Load(reset=reset, **c) for scope, c in counts.items()}
        return loads, [] if result.refused else items

    async def _give_back(self, taken: list[Take]) -> None:
        counted = [replace(t, amount=-t.amount, limit=None) for t in taken if t.holder is None]
        if counted:
            await self._counters.take_all(counted)
        slots = [Slot(t.counter, t.holder) for t in taken if t.holder is not None]
        if slots:
            await self._counters.give_back(slots)

    async def _in_flight(self, counter: str) -> int:
        """How many requests hold a slot of ``counter`` now (counting nothing)."""
        taken = await self._counters.take_all([Take(counter, 0, self._slot_lifetime, None, "")])
        return taken.before[0]


def _scopes(principal: Principal) -> Iterator[tuple[str, str, Limits]]:
    """(scope, owner, limits): the key's, then its team's."""
    yield "key", f"key:{principal.id}", principal.limits
    if principal.team is not None:
        yield "team", f"team:{principal.team}", principal.team_limits
