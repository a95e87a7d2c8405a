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
from tests.support.redis import PrivateRedis, command_names, redis_config

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
    short = SHORT
    clients = [SharedRedis(redis_config(prefix=redis_prefix, timeout=1)) for _ in range(2)]
    a, b = (RedisCircuitBook(c, short, ["up"]) for c in clients)
    try:
        await a.failed("up", "transient", "boom")
        await b.refresh()
        assert not await b.admit("up")
        await asyncio.sleep(short.duration + 0.05)
        await b.refresh()
        assert await b.admit("up")
    finally:
        for client in clients:
            await client.close()


# Short, so the tests need not wait long, yet far longer than the few round trips that must see
# the cooldown (or the probe) before it ends, however slow the machine.
SHORT = CooldownConfig(failures=1, window=60, duration=1.0)
PROBE_TTL = 1.5


@pytest.fixture
async def short_replicas(redis_prefix: str) -> AsyncIterator[list[RedisCircuitBook]]:
    """Three processes' circuit books with a short cooldown; a dead prober's token lapses
    after ``PROBE_TTL``."""
    clients = [SharedRedis(redis_config(prefix=redis_prefix, timeout=1)) for _ in range(3)]
    books = [RedisCircuitBook(c, SHORT, ["up"], probe_ttl=PROBE_TTL) for c in clients]
    yield books
    for book, client in zip(books, clients, strict=True):
        await book.close()
        await client.close()


async def admitted(books: list[RedisCircuitBook], each: int = 5) -> list[int]:
    """Every book admits ``each`` requests at once: which books' requests went through."""
    answers = await asyncio.gather(*(book.admit("up") for book in books for _ in range(each)))
    return [i // each for i, yes in enumerate(answers) if yes]


async def cool_and_wait(books: list[RedisCircuitBook], by: RedisCircuitBook) -> None:
    await by.failed("up", "transient", "boom")
    for book in books:
        await book.refresh()
        assert not await book.admit("up")
    await asyncio.sleep(SHORT.duration + 0.05)


async def test_after_a_shared_cooldown_exactly_one_request_in_the_cluster_probes(
    short_replicas: list[RedisCircuitBook],
) -> None:
    await cool_and_wait(short_replicas, by=short_replicas[0])
    probes = await admitted(short_replicas)
    assert len(probes) == 1
    for book in short_replicas:  # the reader's view changes nothing while the probe runs
        await book.refresh()
        assert (await book.status("up")).state == "half_open"
    assert await admitted(short_replicas) == []
    await short_replicas[probes[0]].succeeded("up")
    for book in short_replicas:
        await book.refresh()
    assert sorted(set(await admitted(short_replicas))) == [0, 1, 2]  # healthy everywhere
    assert len(await admitted(short_replicas)) == 15


async def test_a_failed_probe_cools_the_carrier_again_everywhere(
    short_replicas: list[RedisCircuitBook],
) -> None:
    await cool_and_wait(short_replicas, by=short_replicas[1])
    [prober] = await admitted(short_replicas)
    await short_replicas[prober].failed("up", "transient", "still down")
    for book in short_replicas:
        await book.refresh()
        assert (await book.status("up")).state == "cooling_down"
    assert await admitted(short_replicas) == []
    await asyncio.sleep(SHORT.duration + 0.05)
    assert len(await admitted(short_replicas)) == 1  # half-open again: one probe


async def test_a_probe_whose_replica_died_lapses_and_another_probes(
    short_replicas: list[RedisCircuitBook],
) -> None:
    await cool_and_wait(short_replicas, by=short_replicas[2])
    [prober] = await admitted(short_replicas)  # then that replica is SIGKILLed: no answer
    others = [book for i, book in enumerate(short_replicas) if i != prober]
    await asyncio.sleep(PROBE_TTL + 0.05)
    for book in others:
        await book.refresh()
    assert len(await admitted(others)) == 1


async def test_the_half_open_moment_costs_a_losing_replica_one_round_trip_per_refresh(
    private: PrivateRedis,
) -> None:
    clients = [SharedRedis(redis_config(private.url, timeout=1)) for _ in range(2)]
    a, b = (RedisCircuitBook(c, SHORT, ["up"]) for c in clients)
    try:
        await cool_and_wait([a, b], by=a)
        assert await a.admit("up")  # a probes
        with private.monitor() as sent:
            answers = [await b.admit("up") for _ in range(200)]
    finally:
        for book, client in zip((a, b), clients, strict=True):
            await book.close()
            await client.close()
    assert not any(answers)
    names = command_names(sent)
    assert set(names) == {"evalsha"}  # b's probe attempt (and the background reads)
    assert names.count("evalsha") <= 4, "one probe attempt per refresh, not one per admit"


async def test_a_probe_that_never_reports_lapses_on_its_own_replica_too(
    short_replicas: list[RedisCircuitBook],
) -> None:
    alone = short_replicas[0]
    await cool_and_wait([alone], by=alone)
    assert await alone.admit("up")  # the probe, whose request then vanishes unreported
    assert not await alone.admit("up")
    await asyncio.sleep(PROBE_TTL + 0.05)  # its token lapsed
    await alone.refresh()
    assert await alone.admit("up")
    assert not await alone.admit("up")
