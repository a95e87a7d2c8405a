"""``redis.on_failure`` around the Redis-backed stores: what a request gets while Redis does
not answer (``app.state.redis_client`` decides that, within ``redis.timeout``).

- ``local``: the store's in-process twin answers (rate limits and concurrency per process, as
  without Redis); the warning is logged once per outage by the client. A give-back goes to
  whichever answers (Redis's counts never go below 0), and is never refused.
- ``refuse``: a request that needs the shared counters gets 503 ``shared_state_unavailable``
  with ``retry-after``.

Either way, Redis is probed again at most every ``redis.probe_interval`` seconds and used again
as soon as it answers. Budgets are not here: they live in the database and stay exact.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from app.config.redis import OnFailure
from app.errors import SharedStateUnavailable
from app.state.base import Counters, Take, Taken
from app.state.redis_client import RedisUnavailable

T = TypeVar("T")


class Fallback:
    def __init__(self, on_failure: OnFailure, retry_after: float) -> None:
        self._refuse = on_failure == "refuse"
        self._retry_after = retry_after

    async def run(
        self,
        shared: Callable[[], Awaitable[T]],
        local: Callable[[], Awaitable[T]],
        *,
        refuse: bool = True,
    ) -> T:
        try:
            return await shared()
        except RedisUnavailable:
            if self._refuse and refuse:
                raise SharedStateUnavailable(
                    "The gateway's shared rate-limit state (Redis) is unavailable; "
                    "try again shortly.",
                    retry_after=self._retry_after,
                ) from None
            return await local()


class FallbackCounters:
    """Counters in Redis, or (``local``) in this process while Redis is down."""

    def __init__(self, shared: Counters, local: Counters, fallback: Fallback) -> None:
        self._shared = shared
        self._local = local
        self._fallback = fallback

    async def add(self, key: str, amount: int, window: float) -> int:
        taken = await self.take_all([Take(key, amount, window)])
        return taken.before[0] + amount

    async def take_all(self, items: Sequence[Take]) -> Taken:
        giving_back = all(item.amount < 0 for item in items)
        return await self._fallback.run(
            lambda: self._shared.take_all(items),
            lambda: self._local.take_all(items),
            refuse=not giving_back,  # a give-back is never refused: it frees the local twin
        )
