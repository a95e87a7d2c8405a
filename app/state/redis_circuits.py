"""Carrier cooldowns shared through Redis, with ``admit`` answered from memory.

Each process keeps its own circuit book (``MemoryCircuitBook``: failures counted here, the
half-open probe) and a view of the cooldowns any replica decided. A cooldown decided here is
written at once as ``<prefix>:cool:<carrier>`` with its remaining time as the key's expiry (a
script keeps the longer of an existing and a new cooldown: a re-cool never shortens one). Every
``redis.refresh_interval`` seconds (0.25 s by default) a background reader fetches the
remaining time of every carrier's key in one round trip, so a cooldown decided on one replica
is honoured by the others well within a second, while the request path never waits on Redis.
Remaining times, not wall-clock deadlines, cross the wire: replicas' clocks may differ.

When a shared cooldown ends the carrier is half-open across the replicas (``<prefix>:half:``,
set with the cooldown): exactly one request in the cluster probes it, the one whose replica
wins ``<prefix>:probe:<carrier>`` (``SET NX PX``, lapsing after the longest request deadline
should its replica die). Success ends the half-open state everywhere; failure cools the
carrier again. Only that moment costs a request a round trip (and, on a replica that lost the
probe, at most one per refresh); a healthy carrier's ``admit`` never leaves memory.

While Redis is down, cooldowns are this process's own plus the shared ones already known
(they end on time).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Collection
from dataclasses import replace

from redis.asyncio import Redis

from app.config.runtime import CooldownConfig
from app.core.failures import FailureKind
from app.state.base import CarrierStatus, CircuitState
from app.state.circuits import COUNTED, MemoryCircuitBook
from app.state.redis_client import RedisUnavailable, SharedRedis

log = logging.getLogger(__name__)

HALF_OPEN_TTL = 3600_000  # ms a shared half-open state outlives its cooldown, unprobed

# KEYS: the carrier's cool, half and probe keys; ARGV[1]: the cooldown in ms.
# Keeps the longer cooldown, marks the carrier half-open after it, ends a running probe.
# Returns the remaining ms.
COOL = """
local ttl = redis.call('PTTL', KEYS[1])
if ttl < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], '1', 'PX', ARGV[1]) end
local left = redis.call('PTTL', KEYS[1])
redis.call('SET', KEYS[2], '1', 'PX', left + tonumber(ARGV[2]))
redis.call('DEL', KEYS[3])
return left
"""
# KEYS: every carrier's cool key, then every carrier's half key.
# Returns per carrier the remaining ms (negative: not cooling down) and 1 if half-open.
READ = """
local n, out = #KEYS / 2, {}
for i = 1, n do
  out[2 * i - 1] = redis.call('PTTL', KEYS[i])
  out[2 * i] = redis.call('EXISTS', KEYS[n + i])
end
return out
"""
# KEYS: cool, half, probe; ARGV: this book's token, the probe's lifetime in ms.
# Returns 0: not now (cooling, or another request probes), 1: healthy, 2: you are the probe.
PROBE = """
if redis.call('PTTL', KEYS[1]) > 0 then return 0 end
if redis.call('EXISTS', KEYS[2]) == 0 then return 1 end
if redis.call('SET', KEYS[3], ARGV[1], 'NX', 'PX', ARGV[2]) then return 2 end
return 0
"""
# KEYS: cool, half, probe. The carrier answered: half-open ends (unless it cools again).
CLOSE = """
if redis.call('PTTL', KEYS[1]) <= 0 then redis.call('DEL', KEYS[2]) end
redis.call('DEL', KEYS[3])
return 0
"""
NOT_NOW, HEALTHY, PROBE_HERE = 0, 1, 2


class RedisCircuitBook:
    def __init__(
        self,
        shared: SharedRedis,
        config: CooldownConfig,
        carriers: Collection[str],
        clock: Callable[[], float] = time.monotonic,
        probe_ttl: float = 600.0,
    ) -> None:
        self._shared = shared
        self._config = config
        self._local = MemoryCircuitBook(config, clock)
        self._clock = clock
        self._probe_ttl = max(1, round(probe_ttl * 1000))  # ms: a dead prober's token lapses
        self._token = secrets.token_hex(8)
        self._carriers = tuple(sorted(carriers))
        self._keys = [shared.key("cool", c) for c in self._carriers] + [
            shared.key("half", c) for c in self._carriers
        ]
        self._cool = shared.client.register_script(COOL)
        self._read = shared.client.register_script(READ)
        self._probe = shared.client.register_script(PROBE)
        self._close = shared.client.register_script(CLOSE)
        self._until: dict[str, float] = {}  # carrier -> end of a shared cooldown (our clock)
        self._half_open: set[str] = set()  # a shared cooldown ended; no probe succeeded yet
        self._probing: dict[str, float] = {}  # carrier -> when our probe's token lapses
        self._waiting: set[str] = set()  # another probes: refuse until the next refresh
        self._reader: asyncio.Task[None] | None = None

    async def admit(self, carrier: str) -> bool:
        self.start()
        until = self._until.get(carrier)
        if until is not None:
            if self._clock() < until:
                return False
            del self._until[carrier]  # that cooldown ended here: half-open everywhere
            self._half_open.add(carrier)
        if carrier in self._half_open:
            return await self._claim_probe(carrier)
        return await self._local.admit(carrier)

    async def succeeded(self, carrier: str) -> None:
        await self._local.succeeded(carrier)
        await self._end_half_open(carrier)

    async def failed(
        self, carrier: str, kind: FailureKind, message: str, cool_for: float | None = None
    ) -> None:
        if carrier in self._probing and kind in COUNTED:  # the probe failed: cool again
            cool_for = max(cool_for or 0.0, self._config.duration)
        await self._local.failed(carrier, kind, message, cool_for)
        if kind not in COUNTED:  # the carrier answered: it is up
            await self._end_half_open(carrier)
            return
        self._probing.pop(carrier, None)
        cooling = (await self._local.status(carrier)).cooling_for
        if cooling is None or cooling <= 0:
            return
        milliseconds = max(1, round(cooling * 1000))
        keys = self._keys_of(carrier)

        async def cool(_: Redis) -> int:
            remaining: int = await self._cool(keys=keys, args=[milliseconds, HALF_OPEN_TTL])
            return remaining

        with contextlib.suppress(RedisUnavailable):  # the local cooldown holds meanwhile
            self._note(carrier, await self._shared.call(cool), half_open=True)

    async def status(self, carrier: str) -> CarrierStatus:
        self.start()
        status = await self._local.status(carrier)
        until = self._until.get(carrier)
        remaining = None if until is None else until - self._clock()
        shared_half_open = carrier in self._half_open or remaining is not None
        if status.state == "healthy" and shared_half_open and (remaining or 0) <= 0:
            return replace(status, state="half_open")
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

        answer = await self._shared.call(read)
        for i, carrier in enumerate(self._carriers):
            self._note(carrier, int(answer[2 * i]), half_open=bool(answer[2 * i + 1]))

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

    async def _claim_probe(self, carrier: str) -> bool:
        """The half-open moment: one request in the cluster probes (one round trip)."""
        if carrier in self._waiting or self._probing.get(carrier, 0.0) > self._clock():
            return False  # (a probe that never reported lapses with its token)
        keys, args = self._keys_of(carrier), [self._token, str(self._probe_ttl)]

        async def probe(_: Redis) -> int:
            answer: int = await self._probe(keys=keys, args=args)
            return answer

        try:
            answer = await self._shared.call(probe)
        except RedisUnavailable:
            answer = PROBE_HERE  # Redis is down: one probe from this process
        if answer == HEALTHY:  # another replica's probe succeeded
            self._half_open.discard(carrier)
            return await self._local.admit(carrier)
        if answer == NOT_NOW:
            self._waiting.add(carrier)
            return False
        self._probing[carrier] = self._clock() + self._probe_ttl / 1000
        return True

    async def _end_half_open(self, carrier: str) -> None:
        """The carrier answered: if it was half-open anywhere, it is healthy everywhere."""
        self._probing.pop(carrier, None)
        if carrier not in self._half_open and carrier not in self._until:
            return  # healthy as far as we know: no round trip
        self._half_open.discard(carrier)
        self._waiting.discard(carrier)
        if (until := self._until.get(carrier)) is not None and self._clock() < until:
            return  # still cooling: an earlier request's success does not end a cooldown
        self._until.pop(carrier, None)
        keys = self._keys_of(carrier)

        async def close(_: Redis) -> int:
            done: int = await self._close(keys=keys)
            return done

        with contextlib.suppress(RedisUnavailable):
            await self._shared.call(close)

    def _keys_of(self, carrier: str) -> list[str]:
        return [self._shared.key(kind, carrier) for kind in ("cool", "half", "probe")]

    def _note(self, carrier: str, milliseconds: int, *, half_open: bool) -> None:
        self._waiting.discard(carrier)
        if milliseconds > 0:
            self._until[carrier] = self._clock() + milliseconds / 1000
            self._half_open.discard(carrier)
        elif half_open:
            self._until.pop(carrier, None)
            self._half_open.add(carrier)
        else:
            self._until.pop(carrier, None)
            self._half_open.discard(carrier)
