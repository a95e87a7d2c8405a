"""Idempotency claims in Redis, in front of the database's answers (``DbIdempotencyStore``).

The database keeps what must survive (the answers, and its own claim row, so a request is
never run twice even if Redis loses its keys). Redis decides who runs a key among requests
that arrive together: one ``SET NX PX GET`` per request; the winner goes on to the database,
the others wait on Redis (the same command again after 20 ms, backing off to 200 ms) instead
of polling the database, until the key says ``done`` (the answer is then read from the
database once) or is gone (the work failed: they race for it again). A key used with a
different request is refused from Redis alone (409). The claim expires with the longest
request deadline, like the database's.

While Redis is down the database alone does all of it, exactly, under either
``redis.on_failure`` policy: idempotency never becomes per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets

from redis.asyncio import Redis

from app.domain import Generation
from app.errors import Conflict
from app.state.base import IdempotencyStore
from app.state.redis_client import RedisUnavailable, SharedRedis

POLL = 0.02  # seconds before a waiter's second look at the claim; doubling up to POLL_MAX
POLL_MAX = 0.2
DONE_TTL = 600.0  # seconds a finished key answers "done" from Redis (then the database does)

# KEYS[1]: the claim; ARGV[1]: our token. Deletes the claim only while it is ours.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisIdempotencyStore:
    def __init__(self, shared: SharedRedis, durable: IdempotencyStore, *, claim_ttl: float) -> None:
        self._shared = shared
        self._durable = durable
        self._claim_ms = max(1, round(claim_ttl * 1000))
        self._release = shared.client.register_script(RELEASE)
        self._mine: dict[str, bytes] = {}  # key -> the token of our claim

    async def begin(self, key: str, fingerprint: str) -> Generation | None:
        redis_key = self._shared.key("idem", key)
        token = f"run:{fingerprint}:{secrets.token_hex(8)}".encode()
        try:
            await self._wait_for_turn(redis_key, token, fingerprint)
        except RedisUnavailable:
            return await self._durable.begin(key, fingerprint)  # the database alone
        try:
            answer = await self._durable.begin(key, fingerprint)
        except BaseException:
            await self._give_up(redis_key, token)
            raise
        if answer is None:
            self._mine[key] = token
        else:  # answered before (Redis had forgotten): let the others read it too
            await self._mark_done(redis_key, fingerprint)
        return answer

    async def finish(self, key: str, answer: Generation) -> None:
        await self._durable.finish(key, answer)
        token = self._mine.pop(key, None)
        if token is not None:
            fingerprint = token.decode().split(":")[1]
            await self._mark_done(self._shared.key("idem", key), fingerprint)

    async def abandon(self, key: str) -> None:
        try:
            await self._durable.abandon(key)
        finally:
            token = self._mine.pop(key, None)
            if token is not None:
                await self._give_up(self._shared.key("idem", key), token)

    async def _wait_for_turn(self, redis_key: str, token: bytes, fingerprint: str) -> None:
        """Until this request holds the claim, or the key is done (its answer is then read
        from the database); raises ``Conflict`` for a different request under the key."""
        delay = POLL
        while True:

            async def claim(client: Redis) -> bytes | None:
                # SET NX GET (Redis 7): claims a free key, else returns who holds it.
                holder = await client.set(redis_key, token, nx=True, px=self._claim_ms, get=True)
                return holder if isinstance(holder, bytes) else None

            holder = await self._shared.call(claim)
            if holder is None:
                return  # ours
            state, held_for, _ = (holder.decode().split(":") + ["", ""])[:3]
            if held_for != fingerprint:
                raise Conflict(
                    "This Idempotency-Key was already used with a different request.",
                    code="idempotency_key_reused",
                )
            if state == "done":
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, POLL_MAX)

    async def _mark_done(self, redis_key: str, fingerprint: str) -> None:
        async def done(client: Redis) -> None:
            await client.set(redis_key, f"done:{fingerprint}", px=round(DONE_TTL * 1000))

        with contextlib.suppress(RedisUnavailable):  # waiters then ask the database
            await self._shared.call(done)

    async def _give_up(self, redis_key: str, token: bytes) -> None:
        async def release(_: Redis) -> None:
            await self._release(keys=[redis_key], args=[token])

        with contextlib.suppress(RedisUnavailable):  # the claim expires on its own
            await self._shared.call(release)
