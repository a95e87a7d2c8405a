"""Carrier cooldowns shared through Redis, with ``admit`` answered from memory.

Each process keeps its own circuit book (``MemoryCircuitBook``: failures counted here, the
half-open probe) and a view of the cooldowns any replica decided. A cooldown decided here is
written at once as ``<prefix>:cool:<carrier>`` with its remaining time as the key's expiry (a
script keeps the longer of an existing and a new cooldown: a re-cool never shortens one). Every
``redis.refresh_interval`` seconds (0.25 s by default) a background reader fetches the
remaining time of every carrier's key in one round trip, so a cooldown decided on one replica
is honoured by the others well within a second, while the request path never waits on Redis.
Remaining times, not wall-clock deadlines, cross the wire: replicas' clocks may differ.

While Redis is down, cooldowns are this process's own plus the shared ones already known
(they end on time).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import replace

from redis.asyncio import Redis

from app.config.runtime import CooldownConfig
from app.core.failures import FailureKind
from app.state.base import CarrierStatus, CircuitState
from app.state.circuits import MemoryCircuitBook
from app.state.redis_client import RedisUnavailable, SharedRedis

log = logging.getLogger(__name__)

# KEYS[1]: the carrier's key; ARGV[1]: the cooldown in ms. Returns the remaining ms.
COOL = """
local ttl = redis.call('PTTL', KEYS[1])
if ttl < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], '1', 'PX', ARGV[1]) end
return redis.call('PTTL', KEYS[1])
"""
# KEYS: every carrier's key. Returns the remaining ms of each (negative: not cooling down).
READ = """
local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('PTTL', key) end
return out
"""


class RedisCircuitBook:
    def __init__(
        self,
        shared: SharedRedis,
        config: CooldownConfig,
        carriers: Collection[str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._shared = shared
        self._local = MemoryCircuitBook(config, clock)
        self._clock = clock
        self._carriers = tuple(sorted(carriers))
        self._keys = [shared.key("cool", carrier) for carrier in self._carriers]
        self._cool = shared.client.register_script(COOL)
        self._read = shared.client.register_script(READ)
        self._until: dict[str, float] = {}  # carrier -> end of a shared cooldown (our clock)
        self._reader: asyncio.Task[None] | None = None

    async def admit(self, carrier: str) -> bool:
        self.start()
        until = self._until.get(carrier)
        if until is not None and self._clock() < until:
            return False
        return await self._local.admit(carrier)

    async def succeeded(self, carrier: str) -> None:
        await self._local.succeeded(carrier)

    async def failed(
        self, carrier: str, kind: FailureKind, message: str, cool_for: float | None = None
    ) -> None:
        await self._local.failed(carrier, kind, message, cool_for)
        cooling = (await self._local.status(carrier)).cooling_for
        if cooling is None or cooling <= 0:
            return
        milliseconds = max(1, round(cooling * 1000))
        key = self._shared.key("cool", carrier)

        async def cool(_: Redis) -> int:
            remaining: int = await self._cool(keys=[key], args=[milliseconds])
            return remaining

        with contextlib.suppress(RedisUnavailable):  # the local cooldown holds meanwhile
            self._note(carrier, await self._shared.call(cool))

    async def status(self, carrier: str) -> CarrierStatus:
        self.start()
        status = await self._local.status(carrier)
        until = self._until.get(carrier)
        remaining = None if until is None else until - self._clock()
        if remaining is None or remaining <= 0 or (status.cooling_for or 0) >= remaining:
            return status
        state: CircuitState = "key_rejected" if status.state == "key_rejected" else "cooling_down"
        return replace(status, state=state, cooling_for=remaining)

    def start(self) -> None:
        """Start reading the shared cooldowns (from the running event loop; at the first
        ``admit`` or ``status``, so building the book needs no loop)."""
        if self._reader is None and self._keys:
            loop = asyncio.get_running_loop()
            self._reader = loop.create_task(self._read_forever(), name="shared-cooldowns")

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None

    async def refresh(self) -> None:
        """Read every carrier's shared cooldown once (one round trip)."""

        async def read(_: Redis) -> list[int]:
            remaining: list[int] = await self._read(keys=self._keys)
            return remaining

        for carrier, milliseconds in zip(
            self._carriers, await self._shared.call(read), strict=True
        ):
            self._note(carrier, int(milliseconds))

    async def _read_forever(self) -> None:
        interval = self._shared.config.refresh_interval
        while True:
            try:
                await self.refresh()
            except RedisUnavailable:
                pass  # logged once per outage by the client; known cooldowns end on time
            except Exception:
                log.exception("reading the shared cooldowns failed")
            await asyncio.sleep(interval)

    def _note(self, carrier: str, milliseconds: int) -> None:
        if milliseconds > 0:
            self._until[carrier] = self._clock() + milliseconds / 1000
        else:
            self._until.pop(carrier, None)
