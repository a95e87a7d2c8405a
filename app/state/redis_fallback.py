"""``redis.on_failure`` around the Redis-backed counters: what a request gets while Redis does
not answer (``app.state.redis_client`` finds that out within ``redis.timeout``).

- ``local``: the in-process twin counts (rate limits and concurrency per process, as without
  Redis); the client logs one warning per outage.
- ``refuse``: a request that needs the shared counters gets 503 ``shared_state_unavailable``
  with ``retry-after``.

Either way Redis is probed again at most every ``redis.probe_interval`` seconds and used as soon
as it answers. Giving back is never refused, and goes where the slot was taken: a slot this
process took during an outage is given back here; one Redis holds but cannot be told about
now is owed, and taken out first when Redis answers again (taking a slot out is idempotent,
so a give-back that timed out is owed too, and so is a take that timed out: a frozen Redis
may still carry it out). Either way an in-flight slot dies at its deadline at the latest, so
an outage does not leave concurrency slots taken. Budgets are not here: they live in the
database and stay exact.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.config.redis import OnFailure
from app.errors import SharedStateUnavailable
from app.state.base import Counters, Slot, Take, Taken
from app.state.redis_client import RedisUnavailable


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
        self._slots_here: set[Slot] = set()  # slots taken here during an outage
        self._owed_slots: set[Slot] = set()  # slots to take out of Redis when it answers

    async def add(self, key: str, amount: int, window: float) -> int:
        taken = await self.take_all([Take(key, amount, window)])
        return taken.before[0] + amount

    async def take_all(self, items: Sequence[Take]) -> Taken:
        if items and all(item.amount < 0 for item in items):
            return await self._give_back(items)
        try:
            await self._settle_owed()
            return await self._shared.take_all(items)
        except RedisUnavailable as unavailable:
            if unavailable.maybe_applied:  # Redis may still add these slots: take them out later
                self._owed_slots.update(_slots_of(items))
            if self._fallback.refuses:
                raise self._fallback.refusal() from None
        taken = await self._local.take_all(items)
        if not taken.refused:
            self._slots_here.update(_slots_of(items))
        return taken

    async def give_back(self, slots: Sequence[Slot]) -> None:
        """A slot goes back where it was taken; one Redis cannot take back now is owed (taking
        it back is idempotent, so a give-back that timed out is owed as well)."""
        here = [slot for slot in slots if slot in self._slots_here]
        there = [slot for slot in slots if slot not in self._slots_here]
        if here:
            self._slots_here.difference_update(here)
            await self._local.give_back(here)
        if there:
            try:
                await self._shared.give_back(there)
            except RedisUnavailable:
                self._owed_slots.update(there)

    async def _settle_owed(self) -> None:
        """The slots Redis was owed during an outage, before anything else (only after one)."""
        if self._owed_slots:
            owed = list(self._owed_slots)
            await self._shared.give_back(owed)
            self._owed_slots.difference_update(owed)

    async def _give_back(self, items: Sequence[Take]) -> Taken:
        """A refused request's window counts go back to Redis, or here while it is down (the
        counts are not read: zeros)."""
        try:
            await self._shared.take_all(items)
        except RedisUnavailable:
            await self._local.take_all(items)
        return Taken(tuple(0 for _ in items), False)


def _slots_of(items: Sequence[Take]) -> list[Slot]:
    return [Slot(i.counter, i.holder) for i in items if i.holder is not None and i.amount > 0]
