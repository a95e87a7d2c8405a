"""In-process counters for rate limits, quotas and concurrency on one replica: counts over
fixed windows, and in-flight slots, one entry per holder that dies at its deadline (a slot
that is never given back frees itself; giving one back twice frees nothing else)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from app.state.base import Slot, Take, Taken

_SWEEP_ABOVE = 100_000  # keys held before closed windows (and empty slot sets) are swept


class MemoryCounters:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._counts: dict[str, tuple[float, int]] = {}  # key -> (window end, count)
        self._slots: dict[str, dict[str, float]] = {}  # key -> holder -> when its slot dies

    async def add(self, key: str, amount: int, window: float) -> int:
        return self._add(key, amount, window)

    async def take_all(self, items: Sequence[Take]) -> Taken:
        # No await in between: atomic within this process, as the Redis script is across them.
        now = self._clock()
        before = tuple(
            self._live(i.counter, now)
            if i.holder is not None
            else self._add(i.counter, i.amount, i.window) - i.amount
            for i in items
        )
        refused = any(
            i.limit is not None and count + i.amount > i.limit
            for i, count in zip(items, before, strict=True)
        )
        for item in items:
            if item.holder is None:
                if refused:
                    self._add(item.counter, -item.amount, item.window)
            elif not refused and item.amount > 0:
                self._slots.setdefault(item.counter, {})[item.holder] = now + item.window
                if len(self._slots) > _SWEEP_ABOVE:
                    self._slots = {
                        k: v for k, v in self._slots.items() if any(d > now for d in v.values())
                    }
        return Taken(before, refused)

    async def give_back(self, slots: Sequence[Slot]) -> None:
        for slot in slots:
            holders = self._slots.get(slot.counter)
            if holders is not None:
                holders.pop(slot.holder, None)

    def _live(self, key: str, now: float) -> int:
        """How many slots of ``key`` are held now (the dead ones are dropped)."""
        holders = self._slots.get(key)
        if holders is None:
            return 0
        dead = [holder for holder, dies in holders.items() if dies <= now]
        for holder in dead:
            del holders[holder]
        return len(holders)

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
