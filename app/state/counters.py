"""In-process counters over fixed windows, for rate limits and quotas on one replica."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from app.state.base import Take, Taken

_SWEEP_ABOVE = 100_000  # keys held before closed windows are swept


class MemoryCounters:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._counts: dict[str, tuple[float, int]] = {}  # key -> (window end, count)

    async def add(self, key: str, amount: int, window: float) -> int:
        return self._add(key, amount, window)

    async def take_all(self, items: Sequence[Take]) -> Taken:
        # No await in between: atomic within this process, as the Redis script is across them.
        before = tuple(self._add(i.counter, i.amount, i.window) - i.amount for i in items)
        refused = any(
            i.limit is not None and count + i.amount > i.limit
            for i, count in zip(items, before, strict=True)
        )
        if refused:
            for item in items:
                self._add(item.counter, -item.amount, item.window)
        return Taken(before, refused)

    def _add(self, key: str, amount: int, window: float) -> int:
        now = self._clock()
        ends, count = self._counts.get(key, (now, 0))
        if now >= ends:  # that window closed: start the current one
            ends, count = (now // window + 1) * window, 0
        count += amount
        self._counts[key] = (ends, count)
        if len(self._counts) > _SWEEP_ABOVE:
            self._counts = {k: v for k, v in self._counts.items() if v[0] > now}
        return count
