"""The one Redis connection of a process, and its outage guard.

Every call is bounded twice: the socket's connect and read timeouts (``redis.timeout``) and an
``asyncio.timeout`` around the whole call, so a Redis that is down, full or unreachable costs a
request at most that long. The first failure marks Redis down (one warning per outage); while
it is down calls fail at once, without touching the network, except one probe per
``redis.probe_interval`` seconds; the first call that succeeds again marks it up (one line).
What a store does when a call fails is its fallback (``app.state.redis_fallback``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.config.redis import RedisConfig

log = logging.getLogger(__name__)
T = TypeVar("T")


class RedisUnavailable(Exception):
    """Redis did not answer in time, or is known to be down: the caller falls back.
    ``maybe_applied``: the command may have reached Redis (it timed out waiting for the
    answer), so Redis may still carry it out; otherwise it surely did not."""

    def __init__(self, reason: str, *, maybe_applied: bool = False) -> None:
        super().__init__(reason)
        self.maybe_applied = maybe_applied


class SharedRedis:
    def __init__(self, config: RedisConfig, clock: Callable[[], float] = time.monotonic) -> None:
        assert config.url is not None
        self.config = config
        self.prefix = config.prefix
        self.client: Redis = Redis.from_url(
            config.url.get_secret_value(),
            socket_timeout=config.timeout,
            socket_connect_timeout=config.timeout,
            # One retry, on a broken connection only (a pooled one Redis closed, or a restart):
            # never on a timeout, so a slow Redis is not asked twice within the deadline.
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            health_check_interval=0,
            decode_responses=False,
        )
        self._clock = clock
        self._down_since: float | None = None
        self._next_probe = 0.0

    @property
    def up(self) -> bool:
        return self._down_since is None

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    async def call(self, work: Callable[[Redis], Awaitable[T]]) -> T:
        """``work(client)`` within ``redis.timeout``; raises :class:`RedisUnavailable`."""
        if self._down_since is not None:
            now = self._clock()
            if now < self._next_probe:
                raise RedisUnavailable("Redis is down")
            self._next_probe = now + self.config.probe_interval  # this call is the probe
        try:
            async with asyncio.timeout(self.config.timeout):
                result = await work(self.client)
        except (RedisError, OSError, TimeoutError) as error:
            self._went_down(error)
            sent = isinstance(error, TimeoutError | RedisTimeoutError)
            raise RedisUnavailable(type(error).__name__, maybe_applied=sent) from None
        if self._down_since is not None:
            log.warning(
                "Redis answers again after %.1f s: counters and cooldowns are shared again",
                self._clock() - self._down_since,
            )
            self._down_since = None
        return result

    async def ping(self) -> None:
        await self.call(lambda client: client.ping())

    async def close(self) -> None:
        await self.client.aclose()

    def _went_down(self, error: BaseException) -> None:
        if self._down_since is not None:
            return
        self._down_since = self._clock()
        self._next_probe = self._down_since + self.config.probe_interval
        what = (
            "requests that need it are refused (503 shared_state_unavailable)"
            if self.config.on_failure == "refuse"
            else "rate limits, concurrency and cooldowns are counted per process until it is back"
        )
        log.warning("Redis does not answer (%s): %s", type(error).__name__, what)
