"""``redis.on_failure`` around the Redis-backed counters: what a request gets while Redis does
not answer (``app.state.redis_client`` finds that out within ``redis.timeout``).

- ``local``: the in-process twin counts (rate limits and concurrency per process, as without
  Redis); the client logs one warning per outage.
- ``refuse``: a request that needs the shared counters gets 503 ``shared_state_unavailable``
  with ``retry-after``.

Either way Redis is probed again at most every ``redis.probe_interval`` seconds and used as soon
as it answers. Giving back is never refused, and goes where the count was taken: what this
process counted during an outage is given back here; an in-flight slot Redis holds but cannot
be told about now is owed, and given back first when Redis answers again, so an outage does
not leave concurrency slots taken. (A give-back that timed out may still be carried out by
Redis, so it is not owed: such a slot expires with ``IN_FLIGHT_TTL`` at worst.) Budgets are
not here: they live in the database and stay exact.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from app.config.redis import OnFailure
from app.errors import SharedStateUnavailable
from app.state.base import Counters, Take, Taken
from app.state.redis_client import RedisUnavailable
from app.state.redis_counters import UNWINDOWED


class Fallback:
    """The policy: whether to refuse, and how long a refused client should wait."""

    def __init__(self, on_failure: OnFailure, retry_after: float) -> None:
        self.refuses = on_failure == "refuse"
        self.retry_after = retry_after

    def refusal(self) -> SharedStateUnavailable:
        return SharedStateUnavailable(
            "The gateway's shared rate-limit state (Redis) is unavailable; try again shortly.",
            retry_after=self.retry_after,
        )


class FallbackCounters:
    """Counters in Redis, or (``local``) in this process while Redis is down."""

    def __init__(self, shared: Counters, local: Counters, fallback: Fallback) -> None:
        self._shared = shared
        self._local = local
        self._fallback = fallback
        self._held_here: Counter[str] = Counter()  # counted here during an outage, not given back
        self._owed: list[Take] = []  # in-flight give-backs Redis has not heard of yet

    async def add(self, key: str, amount: int, window: float) -> int:
        taken = await self.take_all([Take(key, amount, window)])
        return taken.before[0] + amount

    async def take_all(self, items: Sequence[Take]) -> Taken:
        if items and all(item.amount < 0 for item in items):
            return await self._give_back(items)
        try:
            if self._owed:
                await self._shared.take_all(self._owed)
                self._owed = []
            return await self._shared.take_all(items)
        except RedisUnavailable:
            if self._fallback.refuses:
                raise self._fallback.refusal() from None
        taken = await self._local.take_all(items)
        if not taken.refused:
            for item in items:
                if item.window >= UNWINDOWED:
                    self._held_here[item.counter] += item.amount
        return taken

    async def _give_back(self, items: Sequence[Take]) -> Taken:
        """In-flight slots go back where they were taken, and what Redis cannot take now is
        owed; a window's count goes to Redis, else here. The counts are not read (zeros)."""
        here, there = [], []
        for item in items:
            mine = 0
            if item.window >= UNWINDOWED:
                held = self._held_here.pop(item.counter, 0)
                mine = max(0, min(-item.amount, held))
                if held > mine:
                    self._held_here[item.counter] = held - mine
            if mine > 0:
                here.append(replace(item, amount=-mine))
            if item.amount + mine < 0:
                there.append(replace(item, amount=item.amount + mine))
        if here:
            await self._local.take_all(here)
        if there:
            try:
                await self._shared.take_all(there)
            except RedisUnavailable as unavailable:
                if not unavailable.maybe_applied:  # (a timed-out one may still be carried out)
                    self._owed += [item for item in there if item.window >= UNWINDOWED]
                await self._local.take_all([item for item in there if item.window < UNWINDOWED])
        return Taken(tuple(0 for _ in items), False)
