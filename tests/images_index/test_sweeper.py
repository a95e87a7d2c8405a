"""Retention on SQLite and PostgreSQL, with a frozen clock: the sweeper deletes expired images
from storage and marks them; one sweeper works at a time (the lease), two at once delete each
image once and never fail; an image whose deletion fails keeps its record and is retried; and
the app's lifespan runs the sweeper on its own."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import respx
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import create_engine
from app.db.models import ImageRecord
from app.domain import StoredRef
from app.errors import StorageFailed
from app.images_index.lease import ReplicaLeases
from app.images_index.store import ImageIndex
from app.images_index.sweeper import LEASE, Sweeper
from app.storage import LocalStorage
from tests.images_index.helpers import GENERATIONS, OK, PNG, indexed, keyed, now, records
from tests.support.config import MakeConfig
from tests.support.keys import add_key, bearer, serve_with_database
from tests.support.waiting import eventually


class Clock:
    def __init__(self) -> None:
        self.now = now()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Deletes(LocalStorage):
    """The local disk, counting deletions and failing those of ``broken`` ids."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.deleted: Counter[str] = Counter()
        self.broken: set[str] = set()

    async def delete(self, ref: StoredRef) -> None:
        await asyncio.sleep(0)  # let a concurrent sweep interleave
        if ref.id in self.broken:
            raise StorageFailed("could not delete the image (disk on fire)")
        self.deleted[ref.id] += 1
        await super().delete(ref)


async def stored(engine: AsyncEngine, storage: LocalStorage, clock: Clock, ttl: float | None):
    """An image on disk and its record, expiring ``ttl`` seconds from the clock's now."""
    ref = await storage.put(PNG, "png")
    expires = None if ttl is None else clock.now + timedelta(seconds=ttl)
    rows = {
        "id": ref.id, "request_id": "req", "key_id": "key_1", "team_id": None, "model": "m",
        "created_at": clock.now, "format": "png", "width": 16, "height": 12,
        "bytes": ref.byte_size, "location": ref.filename, "expires_at": expires,
        "deleted_at": None, "prompt": None,
    }  # fmt: skip
    async with engine.begin() as connection:
        await connection.execute(insert(ImageRecord), [rows])
    return ref


def sweeper(engine: AsyncEngine, storage: Any, clock: Clock, owner: str, batch: int = 200):
    index = ImageIndex(engine, clock)
    return Sweeper(index, storage, ReplicaLeases(engine, owner, clock), interval=60, batch=batch)


def on_disk(storage: LocalStorage, ref: StoredRef) -> bool:
    return (storage.directory / ref.id[:2] / ref.filename).exists()


async def deleted_ids(engine: AsyncEngine) -> set[str]:
    return {row.id for row in await records(engine) if row.deleted_at is not None}


async def has_deleted(engine: AsyncEngine, ids: set[str]) -> bool:
    return await deleted_ids(engine) == ids


async def test_expired_images_are_deleted_and_marked_and_the_rest_kept(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    clock = Clock()
    storage = Deletes(tmp_path / "images")
    soon = [await stored(engine, storage, clock, 60) for _ in range(5)]
    later = await stored(engine, storage, clock, 3600)
    forever = await stored(engine, storage, clock, None)
    sweep = sweeper(engine, storage, clock, "a", batch=2)  # three batches
    assert (await sweep.sweep()).deleted == 0  # nothing has expired yet
    clock.advance(60)
    result = await sweep.sweep()
    assert (result.ran, result.deleted, result.failed) == (True, 5, 0)
    assert await deleted_ids(engine) == {ref.id for ref in soon}
    assert not any(on_disk(storage, ref) for ref in soon)
    assert on_disk(storage, later) and on_disk(storage, forever)
    clock.advance(10 * 365 * 86_400)
    assert (await sweep.sweep()).deleted == 1
    assert on_disk(storage, forever) and sum(storage.deleted.values()) == 6


async def test_two_sweepers_at_once_delete_each_image_once(
    engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    clock = Clock()
    storage = Deletes(tmp_path / "images")
    refs = [await stored(engine, storage, clock, 1) for _ in range(30)]
    clock.advance(2)
    other_engine = create_engine(database_url)  # another process, as far as the database knows
    try:
        first = sweeper(engine, storage, clock, "replica-a", batch=7)
        second = sweeper(other_engine, storage, clock, "replica-b", batch=7)
        results = await asyncio.gather(first.sweep(), second.sweep(), second.sweep())
        assert sorted(r.ran for r in results).count(True) == 1
        assert sum(r.deleted for r in results) == 30
        assert set(storage.deleted) == {ref.id for ref in refs}
        assert set(storage.deleted.values()) == {1}
        # the lease is replica-a's until it lapses; then replica-b takes over
        more = await stored(engine, storage, clock, 1)
        clock.advance(2)
        assert not (await second.sweep()).ran
        clock.advance(3 * 60)
        assert (await second.sweep()).deleted == 1 and storage.deleted[more.id] == 1
        assert not (await first.sweep()).ran
    finally:
        await other_engine.dispose()


async def test_even_without_the_lease_overlapping_sweeps_never_fail(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """A lease lost mid-sweep: both sweep the same rows; deletes are idempotent and the
    marking conditional, so every image ends deleted once in the index, and nothing raises."""
    clock = Clock()
    storage = Deletes(tmp_path / "images")
    refs = [await stored(engine, storage, clock, 1) for _ in range(20)]
    clock.advance(2)
    a, b = sweeper(engine, storage, clock, "a", 5), sweeper(engine, storage, clock, "b", 5)
    b._leases = a._leases  # both believe they hold it
    results = await asyncio.gather(a.sweep(), b.sweep())
    assert sum(r.deleted for r in results) == 20  # each record marked by exactly one of them
    assert await deleted_ids(engine) == {ref.id for ref in refs}
    assert not any(on_disk(storage, ref) for ref in refs)


async def test_a_failed_deletion_keeps_the_record_and_is_retried_next_sweep(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    clock = Clock()
    storage = Deletes(tmp_path / "images")
    refs = [await stored(engine, storage, clock, 1 + i) for i in range(6)]  # in this order
    clock.advance(10)
    storage.broken = {refs[0].id, refs[3].id}  # one in each of the first two batches
    sweep = sweeper(engine, storage, clock, "a", batch=2)
    result = await sweep.sweep()
    assert (result.deleted, result.failed) == (4, 2)
    assert await deleted_ids(engine) == {r.id for r in refs} - storage.broken
    assert on_disk(storage, refs[0]) and on_disk(storage, refs[3])
    storage.broken = set(r.id for r in refs)  # all failing: the sweep stops, nothing marked
    assert (await sweep.sweep()).deleted == 0
    storage.broken = set()
    clock.advance(60)
    assert (await sweep.sweep()).deleted == 2
    assert len(await deleted_ids(engine)) == 6 and not on_disk(storage, refs[0])


async def test_leases_go_to_exactly_one_taker(engine: AsyncEngine, database_url: str) -> None:
    clock = Clock()
    engines = [create_engine(database_url) for _ in range(4)]
    try:
        leases = [ReplicaLeases(e, f"owner-{i}", clock) for i, e in enumerate(engines * 2)]
        taken = await asyncio.gather(*(lease.acquire(LEASE, 30) for lease in leases))
        assert taken.count(True) == 1
        holder = leases[taken.index(True)]
        other = next(lease for lease in leases if lease.owner != holder.owner)
        assert await holder.acquire(LEASE, 30)  # renewing
        assert not await other.acquire(LEASE, 30)
        await holder.release(LEASE)
        assert await other.acquire(LEASE, 30) and not await holder.acquire(LEASE, 30)
    finally:
        for e in engines:
            await e.dispose()


async def test_the_app_sweeps_expired_images_on_its_own(
    make_config: MakeConfig, upstream: respx.MockRouter, engine: AsyncEngine
) -> None:
    upstream.post(GENERATIONS).mock(return_value=OK)
    _, secret = await add_key(engine, "alice", retention_seconds=1)

    def edit(data: dict[str, Any]) -> None:
        keyed(data)
        data["storage"]["sweep_interval"] = 0.05

    async with serve_with_database(make_config(edit), engine) as client:
        response = await client.post(
            "/v1/images/generations",
            json={"prompt": "x"},
            headers={**bearer(secret), "x-request-id": "req-short"},
        )
        url = response.json()["data"][0]["url"]
        [item] = await indexed(client, bearer(secret), "req-short")
        assert (await client.get(url)).status_code == 200

        async def gone() -> bool:
            return (await client.get(url)).status_code == 404

        await eventually(gone, what="the swept image's URL answers 404")
        await eventually(
            lambda: has_deleted(engine, {item["id"]}), what="the record is marked deleted"
        )
        assert await deleted_ids(engine) == {item["id"]}
