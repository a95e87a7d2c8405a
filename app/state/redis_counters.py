"""Rate and concurrency counters in Redis: the same fixed windows as ``MemoryCounters``, shared
by every process and replica.

A request's counters are taken by one Lua script (registered once, run by ``EVALSHA``): one
round trip that counts every item, and when one would pass its limit takes them all back
before anyone else sees them. Windows follow Redis's clock (``TIME``), so replicas whose clocks
differ still share one window (and ``Taken.reset`` says when it ends). Each windowed key
expires with its window; an in-flight (concurrency) counter expires ``IN_FLIGHT_TTL`` after it
was last touched, so slots that a killed replica held do not stay taken forever.
"""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis

from app.state.base import Take, Taken
from app.state.redis_client import SharedRedis

UNWINDOWED = 1e6  # seconds: a window this long never rolls over (in-flight counters)
IN_FLIGHT_TTL = 3600  # seconds an untouched in-flight counter lives

# KEYS[i]: counter i; ARGV[3i-2..3i]: amount, window in ms (0: none), limit (-1: none);
# ARGV[3n+1]: the TTL of unwindowed counters in ms.
# Returns {refused, ms left in the last windowed item's window (-1: none), before_1..before_n}.
TAKE_ALL = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local n = #KEYS
local keys, before, refused, left = {}, {}, 0, -1
for i = 1, n do
  local amount = tonumber(ARGV[3 * i - 2])
  local window = tonumber(ARGV[3 * i - 1])
  local limit = tonumber(ARGV[3 * i])
  local key, ttl = KEYS[i], tonumber(ARGV[3 * n + 1])
  if window > 0 then
    local index = math.floor(now_ms / window)
    key = key .. ':' .. string.format('%d', index)
    left = (index + 1) * window - now_ms
    ttl = left + 1000
  end
  keys[i] = key
  local after = redis.call('INCRBY', key, amount)
  if after < 0 then redis.call('SET', key, 0) end
  redis.call('PEXPIRE', key, ttl)
  before[i] = after - amount
  if limit >= 0 and after > limit then refused = 1 end
end
if refused == 1 then
  for i = 1, n do redis.call('DECRBY', keys[i], tonumber(ARGV[3 * i - 2])) end
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
        keys = [self._shared.key("c", item.counter) for item in items]
        args: list[int] = []
        for item in items:
            window = 0 if item.window >= UNWINDOWED else max(1, round(item.window * 1000))
            args += (item.amount, window, -1 if item.limit is None else item.limit)
        args.append(IN_FLIGHT_TTL * 1000)

        async def run(_: Redis) -> list[int]:
            answer: list[int] = await self._script(keys=keys, args=args)
            return answer

        refused, left, *before = await self._shared.call(run)
        reset = int(left) / 1000 if int(left) >= 0 else None
        return Taken(tuple(int(count) for count in before), bool(refused), reset)
