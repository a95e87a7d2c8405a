"""Where the hot state lives, chosen once by ``app.wiring``: in this process, or in Redis when
``redis.url`` is set (``BACKENDS``: one row each). The durable state (idempotency answers,
async jobs, budgets) is in the database either way; this decides the rate and concurrency
counters, the carrier cooldowns, and who claims an idempotency key first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass

from app.config.redis import RedisConfig
from app.config.runtime import CooldownConfig
from app.state.base import CircuitBook, Counters, IdempotencyStore
from app.state.circuits import MemoryCircuitBook
from app.state.counters import MemoryCounters


async def _nothing() -> None:
    return None


@dataclass(frozen=True, slots=True)
class HotState:
    counters: Counters
    circuits: CircuitBook
    idempotency: IdempotencyStore
    ping: Callable[[], Awaitable[None]] | None = None  # None: nothing to reach
    close: Callable[[], Awaitable[None]] = _nothing


@dataclass(frozen=True, slots=True)
class StateNeeds:
    """What every backend is built from."""

    redis: RedisConfig
    cooldown: CooldownConfig
    carriers: Collection[str]
    durable_idempotency: IdempotencyStore  # the database's answers
    claim_ttl: float  # seconds: the longest a request can run


def in_process(needs: StateNeeds) -> HotState:
    return HotState(
        counters=MemoryCounters(),
        circuits=MemoryCircuitBook(needs.cooldown),
        idempotency=needs.durable_idempotency,
    )


def in_redis(needs: StateNeeds) -> HotState:
    # Imported here: without redis.url the Redis client is never loaded.
    from app.state.redis_circuits import RedisCircuitBook
    from app.state.redis_client import SharedRedis
    from app.state.redis_counters import RedisCounters
    from app.state.redis_fallback import Fallback, FallbackCounters
    from app.state.redis_idempotency import RedisIdempotencyStore

    shared = SharedRedis(needs.redis)
    fallback = Fallback(needs.redis.on_failure, retry_after=needs.redis.probe_interval)
    circuits = RedisCircuitBook(shared, needs.cooldown, needs.carriers, probe_ttl=needs.claim_ttl)

    async def close() -> None:
        await circuits.close()
        await shared.close()

    return HotState(
        counters=FallbackCounters(RedisCounters(shared), MemoryCounters(), fallback),
        circuits=circuits,
        idempotency=RedisIdempotencyStore(
            shared, needs.durable_idempotency, claim_ttl=needs.claim_ttl
        ),
        ping=shared.ping,
        close=close,
    )


BACKENDS: dict[str, Callable[[StateNeeds], HotState]] = {"process": in_process, "redis": in_redis}


def build_hot_state(needs: StateNeeds) -> HotState:
    return BACKENDS["redis" if needs.redis.enabled else "process"](needs)
