"""Cooldowns decided by one process reach the others through Redis within a second, while
``admit`` never waits on Redis; a re-cool never shortens a cooldown."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from app.config.runtime import CooldownConfig
from app.state.redis_circuits import RedisCircuitBook
from app.state.redis_client import SharedRedis
from tests.support.redis import PrivateRedis, redis_config

COOLDOWN = CooldownConfig(failures=2, window=60, duration=5)


@pytest.fixture
async def replicas(redis_prefix: str) -> AsyncIterator[list[RedisCircuitBook]]:
    """Three processes' circuit books on one Redis."""
    clients = [SharedRedis(redis_config(prefix=redis_prefix, timeout=1)) for _ in range(3)]
    books = [RedisCircuitBook(c, COOLDOWN, ["up", "other"]) for c in clients]
    for book in books:
        book.start()
    yield books
    for book, client in zip(books, clients, strict=True):
        await book.close()
        await client.close()


async def until(condition_met, within: float) -> float:
    started = time.monotonic()
    while not await condition_met():
        assert time.monotonic() - started < within, "not within the time"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def test_a_cooldown_on_one_replica_reaches_the_others_within_a_second(
    replicas: list[RedisCircuitBook],
) -> None:
    a, b, c = replicas
    assert await b.admit("up") and await c.admit("up")
    await a.failed("up", "transient", "boom")
    assert await a.admit("up")  # one failure of two: not yet
    await a.failed("up", "transient", "boom")
    decided = time.monotonic()
    assert not await a.admit("up")

    async def others_refuse() -> bool:
        return not await b.admit("up") and not await c.admit("up")

    await until(others_refuse, within=1.0)
    assert time.monotonic() - decided < 1.0
    status = await b.status("up")
    assert status.state == "cooling_down" and 4 < (status.cooling_for or 0) <= 5
    assert await b.admit("other")  # only that carrier


async def test_a_forced_cooldown_is_shared_and_a_shorter_one_never_shortens_it(
    replicas: list[RedisCircuitBook],
) -> None:
    a, b, _ = replicas
    await a.failed("up", "rate_limited", "slow down", cool_for=30)
    await b.failed("up", "rate_limited", "slow down", cool_for=1)
    await b.refresh()
    assert 29 < ((await b.status("up")).cooling_for or 0) <= 30


async def test_admit_sends_nothing_to_redis(private: PrivateRedis) -> None:
    client = SharedRedis(redis_config(private.url, timeout=1, refresh_interval=0.5))
    book = RedisCircuitBook(client, COOLDOWN, ["up", "other"])
    try:
        await book.failed("up", "transient", "boom", cool_for=5)
        await book.refresh()
        with private.monitor() as sent:
            admitted = [await book.admit(carrier) for carrier in ("up", "other") * 500]
    finally:
        await book.close()
        await client.close()
    assert admitted == [False, True] * 500
    assert len(sent) <= 1  # at most the background reader's one look, never one per admit


async def test_a_cooldown_ends_everywhere_on_time(redis_prefix: str) -> None:
    short = CooldownConfig(failures=1, window=60, duration=0.3)
    clients = [SharedRedis(redis_config(prefix=redis_prefix, timeout=1)) for _ in range(2)]
    a, b = (RedisCircuitBook(c, short, ["up"]) for c in clients)
    try:
        await a.failed("up", "transient", "boom")
        await b.refresh()
        assert not await b.admit("up")
        await asyncio.sleep(0.35)
        await b.refresh()
        assert await b.admit("up")
    finally:
        for client in clients:
            await client.close()
