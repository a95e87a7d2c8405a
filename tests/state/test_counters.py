"""Counters, in process and in Redis, behave the same: ``take_all`` counts every item or
none, reports the counts before the request, and windows roll over; in Redis, one script
(one round trip) per call, atomic across processes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis

from app.state.base import Counters, Take
from app.state.counters import MemoryCounters
from app.state.redis_client import SharedRedis
from app.state.redis_counters import IN_FLIGHT_TTL, RedisCounters
from tests.support.redis import PrivateRedis, command_names, redis_config

MINUTE = 60.0
IN_FLIGHT = 1e9  # app.access.settlement.CONCURRENCY_WINDOW


@pytest.fixture(params=["memory", "redis"])
async def counters(request: pytest.FixtureRequest, shared: SharedRedis) -> AsyncIterator[Counters]:
    yield MemoryCounters() if request.param == "memory" else RedisCounters(shared)


async def test_take_all_counts_every_item_and_reports_counts_before(counters: Counters) -> None:
    items = [Take("rpm:k", 1, MINUTE, 5), Take("ipm:k", 3, MINUTE, 10), Take("cc:k", 1, IN_FLIGHT)]
    first = await counters.take_all(items)
    second = await counters.take_all(items)
    assert (first.refused, first.before) == (False, (0, 0, 0))
    assert (second.refused, second.before) == (False, (1, 3, 1))


async def test_a_refusal_counts_nothing_on_any_item(counters: Counters) -> None:
    await counters.take_all([Take("ipm:team", 9, MINUTE, 10)])
    refused = await counters.take_all(
        [Take("ipm:key", 2, MINUTE, 100), Take("ipm:team", 2, MINUTE, 10)]
    )
    assert refused.refused and refused.before == (0, 9)
    after = await counters.take_all([Take("ipm:key", 0, MINUTE), Take("ipm:team", 0, MINUTE)])
    assert after.before == (0, 9)  # the key's count was rolled back with the team's


async def test_giving_back_and_reading(counters: Counters) -> None:
    assert await counters.add("cc:k", 1, IN_FLIGHT) == 1
    assert await counters.add("cc:k", 1, IN_FLIGHT) == 2
    assert await counters.add("cc:k", -1, IN_FLIGHT) == 1
    assert await counters.add("cc:k", 0, IN_FLIGHT) == 1
    assert (await counters.take_all([])).before == ()


async def test_windows_roll_over(counters: Counters) -> None:
    assert await counters.add("rpm:w", 4, 0.2) == 4
    await asyncio.sleep(0.25)  # the next 0.2 s window, whichever clock counts it
    assert await counters.add("rpm:w", 1, 0.2) == 1


async def test_concurrent_takes_from_two_processes_admit_exactly_the_limit(
    redis_prefix: str,
) -> None:
    replicas = [SharedRedis(redis_config(prefix=redis_prefix, timeout=2)) for _ in range(2)]
    stores = [RedisCounters(r) for r in replicas]
    try:
        results = await asyncio.gather(
            *(stores[i % 2].take_all([Take("cc:x", 1, IN_FLIGHT, 10)]) for i in range(60))
        )
    finally:
        for r in replicas:
            await r.close()
    assert sum(not r.refused for r in results) == 10


async def test_redis_keys_expire_with_their_window(shared: SharedRedis) -> None:
    store = RedisCounters(shared)
    await store.take_all([Take("rpm:t", 1, MINUTE), Take("cc:t", 1, IN_FLIGHT)])
    client = redis.Redis.from_url(shared.config.url.get_secret_value())  # type: ignore[union-attr]
    try:
        windowed = [k for k in client.scan_iter(match=f"{shared.prefix}:c:rpm:t:*")]
        assert len(windowed) == 1
        assert 0 < client.pttl(windowed[0]) <= (MINUTE + 1) * 1000
        in_flight_ttl = client.pttl(f"{shared.prefix}:c:cc:t")
        assert IN_FLIGHT_TTL * 1000 - 5000 < in_flight_ttl <= IN_FLIGHT_TTL * 1000
    finally:
        client.close()
    assert await store.add("cc:t", -5, IN_FLIGHT) == 0  # never below zero


async def test_one_round_trip_per_take(private: PrivateRedis) -> None:
    shared = SharedRedis(redis_config(private.url, timeout=2))
    store = RedisCounters(shared)
    items = [Take(f"{n}:{o}", 1, w, 100) for n, w in (("rpm", MINUTE), ("ipm", MINUTE),
             ("cc", IN_FLIGHT)) for o in ("key", "team")]  # fmt: skip
    try:
        await store.take_all(items)  # loads the script once
        with private.monitor() as sent:
            for _ in range(20):
                await store.take_all(items)
    finally:
        await shared.close()
    assert command_names(sent) == ["evalsha"] * 20


async def test_redis_says_when_its_window_ends(shared: SharedRedis) -> None:
    store = RedisCounters(shared)
    client = redis.Redis.from_url(shared.config.url.get_secret_value())  # type: ignore[union-attr]
    try:
        seconds, micros = client.time()
    finally:
        client.close()
    left = MINUTE - (seconds % 60 + micros / 1e6)
    taken = await store.take_all([Take("rpm:r", 1, MINUTE, 10), Take("cc:r", 1, IN_FLIGHT)])
    assert taken.reset is not None and abs(taken.reset - left) < 0.5
    assert (await store.take_all([Take("cc:r", 1, IN_FLIGHT)])).reset is None
    assert (await MemoryCounters().take_all([Take("rpm:r", 1, MINUTE)])).reset is None
