"""Async-job leases on SQLite and PostgreSQL (issue 13 §3): a job belongs to the process whose
lease on it is alive (renewed by its heartbeat); any process finishes the jobs of a process
whose lease ran out as failed, and never touches a live owner's jobs. Time is an injected
clock, except for the heartbeat loop's own period."""

from __future__ import annotations

from functools import partial
from typing import Any

import orjson
import pytest
from alembic import command
from sqlalchemy import bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config.runtime import JobsConfig
from app.db.migrate import alembic_config
from app.db.models import AsyncJob
from app.db.types import UtcDateTime, from_timestamp
from app.run.async_jobs import JobRunner
from app.run.tasks import TaskRegistry
from app.state.db_jobs import DbJobStore
from tests.support.waiting import eventually

INTERRUPTED, NEVER_STARTED = b'{"code":"interrupted"}', b'{"code":"never_started"}'


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def store(engine: AsyncEngine, clock: Clock, instance: str, lease: float = 30) -> DbJobStore:
    return DbJobStore(engine, instance=instance, clock=clock, lease=lease)


def rounds_seen(jobs: DbJobStore, clock: Clock, name: str) -> list[float]:
    """Wrap ``jobs.<name>`` (renew or reap): the (fake) clock at the start of each completed
    call, so a test can wait for a round begun after it moved the clock."""
    seen: list[float] = []
    call = getattr(jobs, name)

    async def counted(*args: Any) -> int:
        started = clock.now
        result: int = await call(*args)
        seen.append(started)
        return result

    setattr(jobs, name, counted)
    return seen


def since(rounds: list[float], moved: float) -> bool:
    return bool(rounds) and max(rounds) >= moved


async def test_a_live_owners_jobs_are_never_reaped_and_a_dead_owners_are(
    engine: AsyncEngine,
) -> None:
    clock = Clock()
    owner, other = store(engine, clock, "a"), store(engine, clock, "b")
    await owner.create("imgjob_1", "key_1", 3600)
    await owner.update("imgjob_1", "running")
    for _ in range(4):  # heartbeats keep it owned long past one lease
        clock.now += 20
        assert await owner.renew() == 1
        assert await other.reap(INTERRUPTED, NEVER_STARTED) == 0
    clock.now += 29  # the last heartbeat's lease still runs
    assert await other.reap(INTERRUPTED, NEVER_STARTED) == 0
    clock.now += 2  # the owner died: no heartbeat for longer than the lease
    assert await other.reap(INTERRUPTED, NEVER_STARTED) == 1
    job = await other.get("imgjob_1", "key_1")
    assert job is not None and job.status == "failed" and job.error == INTERRUPTED
    assert job.completed_at == clock.now
    assert await other.unfinished() == 0
    assert await other.reap(INTERRUPTED, NEVER_STARTED) == 0  # reaped once


async def test_a_reaped_job_is_never_flipped_back_by_its_late_owner(engine: AsyncEngine) -> None:
    clock = Clock()
    owner, other = store(engine, clock, "a"), store(engine, clock, "b")
    await owner.create("imgjob_1", "key_1", 3600)
    await owner.update("imgjob_1", "running")
    clock.now += 31  # the owner hung past its lease, then wakes up
    assert await other.reap(INTERRUPTED, NEVER_STARTED) == 1
    assert await owner.renew() == 0  # no longer its job
    await owner.update("imgjob_1", "succeeded", result=b"{}")
    job = await other.get("imgjob_1", "key_1")
    assert job is not None and job.status == "failed" and job.result is None


async def test_the_error_says_whether_the_work_had_started(engine: AsyncEngine) -> None:
    clock = Clock()
    owner, other = store(engine, clock, "a", lease=10), store(engine, clock, "b")
    await owner.create("imgjob_run", "key_1", 3600)
    await owner.create("imgjob_wait", "key_1", 3600)
    clock.now += 1
    await owner.update("imgjob_run", "running")
    clock.now += 10
    assert await other.reap(INTERRUPTED, NEVER_STARTED) == 2
    started = await other.get("imgjob_run", "key_1")
    waiting = await other.get("imgjob_wait", "key_1")
    assert started is not None and started.error == INTERRUPTED
    assert waiting is not None and waiting.error == NEVER_STARTED
    async with engine.connect() as connection:
        rows = {
            row.id: row
            for row in await connection.execute(
                select(AsyncJob.id, AsyncJob.sent_upstream_at, AsyncJob.lease_owner)
            )
        }
    assert rows["imgjob_run"].sent_upstream_at.timestamp() == 1_800_000_001
    assert rows["imgjob_wait"].sent_upstream_at is None
    assert {row.lease_owner for row in rows.values()} == {None}


async def test_a_heartbeat_renews_only_its_own_unfinished_jobs(engine: AsyncEngine) -> None:
    clock = Clock()
    first, second = store(engine, clock, "a"), store(engine, clock, "b")
    await first.create("imgjob_1", "key_1", 3600)
    await first.create("imgjob_2", "key_1", 3600)
    await second.create("imgjob_3", "key_1", 3600)
    await first.update("imgjob_2", "running")
    await first.update("imgjob_2", "succeeded", result=b"{}")
    clock.now += 25
    assert await first.renew() == 1  # imgjob_1 only: imgjob_2 is finished, imgjob_3 is b's
    clock.now += 10  # b's lease (from creation) ran out, a's renewed one did not
    assert await first.reap(INTERRUPTED, NEVER_STARTED) == 1
    statuses = {job: (await first.get(job, "key_1")) for job in ("imgjob_1", "imgjob_3")}
    assert {job: record and record.status for job, record in statuses.items()} == {
        "imgjob_1": "queued",
        "imgjob_3": "failed",
    }


async def test_the_runners_lease_loop_heartbeats_and_reaps(engine: AsyncEngine) -> None:
    """The loop runs every lease/3 seconds (1/3 s here): while it runs, the owner's job
    outlives its first lease; another runner's loop reaps it once the owner stops."""
    clock = Clock()
    config = JobsConfig(lease=1)
    owner_store, other_store = store(engine, clock, "a", lease=1), store(engine, clock, "b", 1)
    owner = JobRunner(owner_store, TaskRegistry(), config)
    other = JobRunner(other_store, TaskRegistry(), config)
    renewed, reaped = (
        rounds_seen(owner_store, clock, "renew"),
        rounds_seen(other_store, clock, "reap"),
    )
    await owner_store.create("imgjob_1", "key_1", 3600)
    async with owner.leases(), other.leases():
        for _ in range(3):
            clock.now += 0.8  # less than a lease between two heartbeats
            moved = clock.now
            # a heartbeat and a reap, each begun since the clock moved (about one round each;
            # the loop's pace on a slow machine does not matter: the fake clock stands still)
            await eventually(partial(since, renewed, moved), what="a heartbeat")
            await eventually(partial(since, reaped, moved), what="a reap")
        job = await other_store.get("imgjob_1", "key_1")
        assert job is not None and job.status == "queued"
    async with other.leases():  # the owner's loop stopped (its process died)
        clock.now += 1.1

        async def interrupted() -> bool:
            job = await other_store.get("imgjob_1", "key_1")
            return job is not None and job.status == "failed"

        await eventually(interrupted, what="the dead owner's job is reaped")
        job = await other_store.get("imgjob_1", "key_1")
    assert job is not None and job.status == "failed"
    assert orjson.loads(job.error or b"")["code"] == "job_interrupted"


async def test_the_migration_gives_lease_less_unfinished_jobs_an_expired_lease(
    engine: AsyncEngine,
) -> None:
    """Jobs a pre-lease gateway left unfinished (no ``lease_expires_at``) are reaped after the
    upgrade to 0004, not stuck; finished ones keep their (empty) lease."""
    async with engine.begin() as connection:
        await connection.run_sync(lambda c: command.downgrade(alembic_config(c), "0002"))
        for job_id, status in (("imgjob_old", "running"), ("imgjob_done", "succeeded")):
            insert = text(
                "INSERT INTO async_jobs (id, owner, status, created_at, expires_at, "
                "lease_owner) VALUES (:id, 'key_1', :status, :at, :expires, 'gone')"
            ).bindparams(
                bindparam("at", type_=UtcDateTime), bindparam("expires", type_=UtcDateTime)
            )
            await connection.execute(
                insert,
                {
                    "id": job_id,
                    "status": status,
                    "at": from_timestamp(1_799_999_000),
                    "expires": from_timestamp(1_800_090_000),
                },
            )
    async with engine.begin() as connection:
        await connection.run_sync(lambda c: command.upgrade(alembic_config(c), "head"))
    jobs = store(engine, Clock(), "new")
    assert await jobs.reap(INTERRUPTED, NEVER_STARTED) == 1
    old, done = [await jobs.get(job, "key_1") for job in ("imgjob_old", "imgjob_done")]
    assert old is not None and old.status == "failed" and old.error == INTERRUPTED
    assert done is not None and done.status == "succeeded"


async def test_the_lease_loop_outlives_a_database_hiccup(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    """A round of the loop that fails (the database away for a moment) is logged; the next
    one renews. (The round at start-up is not guarded: start-up needs the database.)"""
    clock = Clock()
    jobs = store(engine, clock, "a", lease=1)
    calls, failures = [0], [ConnectionRefusedError("database restarting")]
    renew = jobs.renew

    async def flaky_renew() -> int:
        calls[0] += 1
        if calls[0] == 2 and failures:  # the loop's first round
            raise failures.pop()
        return await renew()

    jobs.renew = flaky_renew  # type: ignore[method-assign]
    renewed = rounds_seen(jobs, clock, "renew")
    await jobs.create("imgjob_1", "key_1", 3600)
    async with JobRunner(jobs, TaskRegistry(), JobsConfig(lease=1)).leases():
        clock.now += 0.8
        moved = clock.now
        # rounds every 1/3 s: the first fails, a later one renews (the start-up one came before)
        await eventually(lambda: since(renewed, moved), what="a renewal")
        clock.now += 0.8  # past the creation lease: alive only if a round renewed it
        assert await store(engine, clock, "b").reap(INTERRUPTED, NEVER_STARTED) == 0
    assert not failures and "could not renew or reap" in caplog.text
