"""Idempotency claims in Redis in front of the database's answers, on SQLite and PostgreSQL:
of requests arriving together on several processes exactly one runs, the others get its
answer; a different request under the key is refused; a failure frees the key; the database
answers alone when Redis is down or has forgotten the key."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config.runtime import IdempotencyConfig
from app.domain import Generation, StoredImage, StoredRef
from app.errors import Conflict
from app.state.db_idempotency import DbIdempotencyStore
from app.state.redis_client import SharedRedis
from app.state.redis_idempotency import RedisIdempotencyStore
from tests.support.redis import PrivateRedis, delete_prefix, redis_config

KEY = "key_1:order-42"


def answer() -> Generation:
    image = StoredImage("png", 2, ref=StoredRef("img_1", "png", 2), width=3, height=4)
    return Generation("generate", "m", "url", "up", (image,), created=1, attempts=("up:200",))


@pytest.fixture
async def processes(
    engine: AsyncEngine, redis_prefix: str
) -> AsyncIterator[list[RedisIdempotencyStore]]:
    """Three processes' stores: each its own Redis connection and database claim identity."""
    clients = [SharedRedis(redis_config(prefix=redis_prefix, timeout=1)) for _ in range(3)]
    stores = [
        RedisIdempotencyStore(
            client,
            DbIdempotencyStore(engine, IdempotencyConfig(), claim_ttl=60, instance=f"p{i}"),
            claim_ttl=60,
        )
        for i, client in enumerate(clients)
    ]
    yield stores
    for client in clients:
        await client.close()


async def test_six_at_once_over_three_processes_run_once(
    processes: list[RedisIdempotencyStore],
) -> None:
    begun = [asyncio.ensure_future(processes[i % 3].begin(KEY, "fp")) for i in range(6)]
    await asyncio.wait(begun, timeout=10, return_when=asyncio.FIRST_COMPLETED)  # the owner
    await asyncio.sleep(0.2)  # time for a wrongly admitted second owner to show
    owners = [task for task in begun if task.done()]
    assert len(owners) == 1 and owners[0].result() is None  # the others wait
    owner = processes[begun.index(owners[0]) % 3]
    await owner.finish(KEY, answer())
    answers = await asyncio.wait_for(asyncio.gather(*begun), timeout=10)
    assert answers.count(None) == 1
    assert {a.images[0].ref for a in answers if a is not None} == {StoredRef("img_1", "png", 2)}
    assert await processes[0].begin(KEY, "fp") is not None  # later repeats too


async def test_a_different_request_under_the_key_is_refused(
    processes: list[RedisIdempotencyStore],
) -> None:
    assert await processes[0].begin(KEY, "fp") is None
    with pytest.raises(Conflict) as refused:
        await processes[1].begin(KEY, "other")
    assert refused.value.code == "idempotency_key_reused"


async def test_a_failure_frees_the_key_for_one_waiter(
    processes: list[RedisIdempotencyStore],
) -> None:
    assert await processes[0].begin(KEY, "fp") is None
    waiters = [asyncio.ensure_future(p.begin(KEY, "fp")) for p in processes[1:]]
    await asyncio.sleep(0.1)
    await processes[0].abandon(KEY)
    await asyncio.wait(waiters, timeout=10, return_when=asyncio.FIRST_COMPLETED)
    await asyncio.sleep(0.1)  # time for a wrongly freed second waiter to show
    done, pending = await asyncio.wait(waiters, timeout=0)
    assert len(done) == 1 and done.pop().result() is None  # one retries for real
    next_owner = processes[1] if waiters[0].done() else processes[2]
    await next_owner.finish(KEY, answer())
    assert (await asyncio.wait_for(pending.pop(), timeout=10)) is not None


async def test_the_database_answers_when_redis_forgot(
    processes: list[RedisIdempotencyStore], redis_prefix: str
) -> None:
    assert await processes[0].begin(KEY, "fp") is None
    await processes[0].finish(KEY, answer())
    delete_prefix(redis_config().url.get_secret_value(), redis_prefix)  # type: ignore[union-attr]
    assert await processes[1].begin(KEY, "fp") is not None  # no second run


async def test_without_redis_the_database_alone_decides(
    engine: AsyncEngine, private: PrivateRedis
) -> None:
    clients = [SharedRedis(redis_config(private.url, timeout=0.25)) for _ in range(2)]
    a, b = (
        RedisIdempotencyStore(
            c,
            DbIdempotencyStore(
                engine, IdempotencyConfig(), claim_ttl=60, instance=f"p{i}", poll=0.01
            ),
            claim_ttl=60,
        )  # fmt: skip
        for i, c in enumerate(clients)
    )
    try:
        private.stop()
        assert await a.begin(KEY, "fp") is None
        waiting = asyncio.ensure_future(b.begin(KEY, "fp"))
        await asyncio.sleep(0.1)
        assert not waiting.done()  # the database claim holds it
        await a.finish(KEY, answer())
        assert await asyncio.wait_for(waiting, timeout=10) is not None
    finally:
        for client in clients:
            await client.close()
