"""In-process counters over fixed windows, for rate limits and quotas on one replica."""

from __future__ import annotations

import time
from collections.abc import Callable

_SWEEP_ABOVE = 100_000  # keys held before closed windows are swept


class MemoryCounters:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._counts: dict[str, tuple[float, int]] = {}  # key -> (window end, count)

    async def add(self, key: str, amount: int, window: float) -> int:
        now = self._clock()
        ends, count = self._counts.get(key, (now, 0))
        if now >= ends:  # that window closed: start the current one
            ends, count = (now // window + 1) * window, 0
        count += amount
        self._counts[key] = (ends, count)
        if len(self._counts) > _SWEEP_ABOVE:
            self._counts = {k: v for k, v in self._counts.items() if v[0] > now}
        return count
