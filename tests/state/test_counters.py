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
from app.state.redis_counters import RedisCounters
from tests.support.redis import PrivateRedis, command_names, redis_config

MINUTE = 60.0
DEADLINE = 600.0  # seconds an in-flight slot lives unless given back


@pytest.fixture(params=["memory", "redis"])
async def counters(request: pytest.FixtureRequest, shared: SharedRedis) -> AsyncIterator[Counters]:
    yield MemoryCounters() if request.param == "memory" else RedisCounters(shared)


async def test_take_all_counts_every_item_and_reports_counts_before(counters: Counters) -> None:
    items = [Take("rpm:k", 1, MINUTE, 5), Take("ipm:k", 3, MINUTE, 10)]
    first = await counters.take_all([*items, Take("cc:k", 1, DEADLINE, holder="r1")])
    second = await counters.take_all([*items, Take("cc:k", 1, DEADLINE, holder="r2")])
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
    assert await counters.add("rpm:k", 2, MINUTE) == 2
    assert await counters.add("rpm:k", -1, MINUTE) == 1
    assert await counters.add("rpm:k", 0, MINUTE) == 1
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
            *(stores[i % 2].take_all([Take("cc:x", 1, DEADLINE, 10, f"r{i}")]) for i in range(60))
        )
    finally:
        for r in replicas:
            await r.close()
    assert sum(not r.refused for r in results) == 10


async def test_redis_keys_expire_with_their_window_or_last_slot(shared: SharedRedis) -> None:
    store = RedisCounters(shared)
    await store.take_all([Take("rpm:t", 1, MINUTE), Take("cc:t", 1, DEADLINE, holder="r")])
    client = redis.Redis.from_url(shared.config.url.get_secret_value())  # type: ignore[union-attr]
    try:
        windowed = [k for k in client.scan_iter(match=f"{shared.prefix}:c:rpm:t:*")]
        assert len(windowed) == 1
        assert 0 < client.pttl(windowed[0]) <= (MINUTE + 1) * 1000
        in_flight_ttl = client.pttl(f"{shared.prefix}:slots:cc:t")
        assert DEADLINE * 1000 - 5000 < in_flight_ttl <= DEADLINE * 1000
    finally:
        client.close()
    assert await store.add("rpm:t", -5, MINUTE) == 0  # never below zero


async def test_one_round_trip_per_take(private: PrivateRedis) -> None:
    shared = SharedRedis(redis_config(private.url, timeout=2))
    store = RedisCounters(shared)
    items = [Take(f"{n}:{o}", 1, MINUTE, 100) for n in ("rpm", "ipm") for o in ("key", "team")]
    items += [Take(f"cc:{o}", 1, DEADLINE, 100, "r") for o in ("key", "team")]
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
    slot = Take("cc:r", 1, DEADLINE, holder="r")
    taken = await store.take_all([Take("rpm:r", 1, MINUTE, 10), slot])
    assert taken.reset is not None and abs(taken.reset - left) < 0.5
    assert (await store.take_all([slot])).reset is None
    assert (await MemoryCounters().take_all([Take("rpm:r", 1, MINUTE)])).reset is None
