"""Rate and concurrency counters in Redis: the same fixed windows as ``MemoryCounters``, shared
by every process and replica.

A request's counters are taken by one Lua script (registered once, run by ``EVALSHA``): one
round trip that counts every item, and when one would pass its limit takes them all back
before anyone else sees them. Windows follow Redis's clock (``TIME``), so replicas whose clocks
differ still share one window (and ``Taken.reset`` says when it ends). Each windowed key
expires with its window.

An in-flight (concurrency) counter is a sorted set ``<prefix>:slots:<counter>``: one member per
request (its holder token), scored with the time by Redis's clock when the slot dies (now plus
the request's longest deadline). The script first drops the dead members, counts the rest
(ZCARD) and adds the holder when nothing is refused; giving back is ZREM of exactly that
member, off the request path. So the slots of a replica killed mid-request free themselves at
their deadline, a slot given back twice frees nobody else's, and a take that a frozen Redis
carries out after the caller gave up leaves a slot that dies at its deadline.
"""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis

from app.state.base import Slot, Take, Taken
from app.state.redis_client import SharedRedis

# KEYS[i]: counter i; ARGV[4i-3..4i]: amount, window in ms, limit (-1: none), and '' for a
# count or '=' .. holder for an in-flight slot set (window: the slot's lifetime).
# Returns {refused, ms left in the last windowed item's window (-1: none), before_1..before_n}.
TAKE_ALL = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local n = #KEYS
local keys, before, refused, left = {}, {}, 0, -1
for i = 1, n do
  local amount = tonumber(ARGV[4 * i - 3])
  local window = tonumber(ARGV[4 * i - 2])
  local limit = tonumber(ARGV[4 * i - 1])
  local key = KEYS[i]
  if ARGV[4 * i] ~= '' then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now_ms)
    before[i] = redis.call('ZCARD', key)
    if limit >= 0 and before[i] + amount > limit then refused = 1 end
  else
    local index = math.floor(now_ms / window)
    key = key .. ':' .. string.format('%d', index)
    left = (index + 1) * window - now_ms
    local after = redis.call('INCRBY', key, amount)
    if after < 0 then redis.call('SET', key, 0) end
    redis.call('PEXPIRE', key, left + 1000)
    before[i] = after - amount
    if limit >= 0 and after > limit then refused = 1 end
  end
  keys[i] = key
end
for i = 1, n do
  local amount, lifetime = tonumber(ARGV[4 * i - 3]), tonumber(ARGV[4 * i - 2])
  if ARGV[4 * i] == '' then
    if refused == 1 then redis.call('DECRBY', keys[i], amount) end
  elseif refused == 0 and amount > 0 then
    redis.call('ZADD', keys[i], now_ms + lifetime, string.sub(ARGV[4 * i], 2))
    if redis.call('PTTL', keys[i]) < lifetime then redis.call('PEXPIRE', keys[i], lifetime) end
  end
end
return {refused, left, unpack(before)}
"""


class RedisCounters:
    def __init__(self, shared: SharedRedis) -> None:
        self._shared = shared
        self._script = shared.client.register_script(TAKE_ALL)

    async def add(self, key: str, amount: int, window: float) -> int:
        taken = await self.take_all([Take(key, amount, window)])
        return max(0, taken.before[0] + amount)  # the script never lets a count go below 0

    async def take_all(self, items: Sequence[Take]) -> Taken:
        if not items:
            return Taken((), False)
        keys = [self._key(item) for item in items]
        args: list[int | str] = []
        for item in items:
            window = max(1, round(item.window * 1000))
            limit = -1 if item.limit is None else item.limit
            args += (item.amount, window, limit, "" if item.holder is None else "=" + item.holder)

        async def run(_: Redis) -> list[int]:
            answer: list[int] = await self._script(keys=keys, args=args)
            return answer

        refused, left, *before = await self._shared.call(run)
        reset = int(left) / 1000 if int(left) >= 0 else None
        return Taken(tuple(int(count) for count in before), bool(refused), reset)

    async def give_back(self, slots: Sequence[Slot]) -> None:
        """One round trip: each holder leaves its slot set (ZREM: a second time does nothing)."""
        if not slots:
            return

        async def run(client: Redis) -> None:
            async with client.pipeline(transaction=False) as pipe:
                for slot in slots:
                    pipe.zrem(self._shared.key("slots", slot.counter), slot.holder)
                await pipe.execute()

        await self._shared.call(run)

    def _key(self, item: Take) -> str:
        # Slot sets have keys of their own: a count and a set never share one.
        return self._shared.key("c" if item.holder is None else "slots", item.counter)
