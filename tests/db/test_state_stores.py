"""The database state stores, on SQLite and PostgreSQL: async jobs (``DbJobStore``) and
idempotency answers (``DbIdempotencyStore``), each also across two instances on one database,
as two processes or a restarted gateway would be."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config.runtime import IdempotencyConfig
from app.db.models import IdempotencyResult
from app.domain import Generation, StoredImage, StoredRef
from app.errors import Conflict
from app.state.base import RequestKey
from app.state.db_idempotency import DbIdempotencyStore
from app.state.db_jobs import DbJobStore


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def answer(b64: str | None = "aGk=", image_id: str | None = "img_1") -> Generation:
    ref = StoredRef(image_id, "png", 2) if image_id is not None else None
    image = StoredImage("png", 2, ref=ref, b64=b64, width=3, height=4)
    return Generation(
        "generate",
        "m",
        "b64_json",
        "up",
        (image,),
        created=1,
        cost_nanos=40_000_000,
        usage={"output_tokens": 7},
        attempts=("up:200",),
    )


def idempotency(engine: AsyncEngine, clock: Clock, instance: str, **options: float):
    config = IdempotencyConfig(ttl=options.pop("ttl", 60))
    return DbIdempotencyStore(
        engine,
        config,
        claim_ttl=options.pop("claim_ttl", 30),
        instance=instance,
        clock=clock,
        poll=0.01,
    )


# Async jobs


async def test_the_same_key_returns_the_first_job_and_another_request_is_a_conflict(
    engine: AsyncEngine,
) -> None:
    jobs = DbJobStore(engine, instance="a", clock=Clock())
    key = RequestKey("key_1:k", "fp")
    first, new = await jobs.create("imgjob_1", "key_1", 60, key)
    again, again_new = await jobs.create("imgjob_2", "key_1", 60, key)
    other_owner, other_new = await jobs.create("imgjob_3", "key_2", 60, RequestKey("key_2:k", "fp"))
    assert new and not again_new and again.id == first.id == "imgjob_1"
    assert other_new and other_owner.id == "imgjob_3"
    with pytest.raises(Conflict):
        await jobs.create("imgjob_4", "key_1", 60, RequestKey("key_1:k", "other"))
    unkeyed = [await jobs.create(f"imgjob_u{i}", "key_1", 60) for i in range(2)]
    assert all(new for _, new in unkeyed) and await jobs.unfinished() == 4


async def test_a_job_is_visible_to_its_owner_until_it_expires_and_its_key_is_free_again(
    engine: AsyncEngine,
) -> None:
    clock = Clock()
    jobs = DbJobStore(engine, instance="a", clock=clock)
    key = RequestKey("key_1:k", "fp")
    await jobs.create("imgjob_1", "key_1", 60, key)
    await jobs.update("imgjob_1", "running")
    clock.now += 5
    await jobs.update("imgjob_1", "succeeded", result=b'{"data":[]}')
    done = await jobs.get("imgjob_1", "key_1")
    assert done is not None and done.status == "succeeded" and done.result == b'{"data":[]}'
    assert done.completed_at is not None and done.completed_at - done.created_at == 5
    assert await jobs.get("imgjob_1", "key_2") is None
    clock.now += 60
    assert await jobs.get("imgjob_1", "key_1") is None
    _, new = await jobs.create("imgjob_2", "key_1", 60, key)
    assert new
    await jobs.purge_expired()
    assert await jobs.unfinished() == 1


# Idempotency answers


async def test_an_answer_outlives_the_instance_that_stored_it(engine: AsyncEngine) -> None:
    clock = Clock()
    first = idempotency(engine, clock, "a")
    assert await first.begin("key_1:k", "fp") is None
    await first.finish("key_1:k", answer())
    replayed = await idempotency(engine, clock, "b").begin("key_1:k", "fp")
    assert replayed == answer(b64=None)  # references only: storage holds the bytes
    async with engine.connect() as connection:
        row = (await connection.execute(select(IdempotencyResult))).one()
    assert (row.scope, row.key, row.state, row.response_refs) == (
        "key_1",
        "k",
        "succeeded",
        ["img_1"],
    )


async def test_a_different_request_under_the_key_is_a_conflict_in_any_instance(
    engine: AsyncEngine,
) -> None:
    clock = Clock()
    await idempotency(engine, clock, "a").begin("key_1:k", "fp")
    with pytest.raises(Conflict):
        await idempotency(engine, clock, "b").begin("key_1:k", "other")
    assert await idempotency(engine, clock, "b").begin("key_2:k", "other") is None  # own scope


@pytest.mark.parametrize("same_instance", [True, False])
async def test_a_repeat_waits_for_the_running_request(
    engine: AsyncEngine, same_instance: bool
) -> None:
    clock = Clock()
    owner = idempotency(engine, clock, "a")
    other = owner if same_instance else idempotency(engine, clock, "b")
    assert await owner.begin("key_1:k", "fp") is None
    waiting = asyncio.ensure_future(other.begin("key_1:k", "fp"))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    await owner.finish("key_1:k", answer())
    replayed = await asyncio.wait_for(waiting, 10)
    assert replayed is not None and replayed.images[0].id == "img_1"


async def test_after_a_failure_the_key_is_free_and_a_waiting_repeat_runs_it(
    engine: AsyncEngine,
) -> None:
    clock = Clock()
    owner, other = idempotency(engine, clock, "a"), idempotency(engine, clock, "b")
    await owner.begin("key_1:k", "fp")
    waiting = asyncio.ensure_future(other.begin("key_1:k", "fp"))
    await asyncio.sleep(0.05)
    await owner.abandon("key_1:k")
    assert await asyncio.wait_for(waiting, 10) is None  # it owns the key now
    await owner.finish("key_1:k", answer())  # the first owner's late word changes nothing
    async with engine.connect() as connection:
        row = (await connection.execute(select(IdempotencyResult))).one()
    assert (row.state, row.claimed_by) == ("pending", "b")


async def test_a_dead_claim_and_an_expired_answer_are_taken_over(engine: AsyncEngine) -> None:
    clock = Clock()
    dead, alive = idempotency(engine, clock, "dead"), idempotency(engine, clock, "alive")
    await dead.begin("key_1:k", "fp")  # its process dies: never finished
    clock.now += 31  # past the claim's lifetime
    assert await alive.begin("key_1:k", "fp") is None
    await alive.finish("key_1:k", answer())
    clock.now += 60  # past the answer's lifetime: the key may mean a new request
    assert await alive.begin("key_1:k", "another request") is None
