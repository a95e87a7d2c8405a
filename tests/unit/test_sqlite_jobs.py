"""The SQLite job store: idempotent creation, owner scoping, and databases from before it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from app.errors import Conflict
from app.state.base import RequestKey
from app.state.sqlite_jobs import SqliteJobStore

OLD_SCHEMA = """
create table jobs (
    id text primary key, caller text not null, status text not null,
    created_at real not null, completed_at real, expires_at real not null,
    result blob, error blob
);
"""


async def test_the_same_key_returns_the_first_job(tmp_path: Path) -> None:
    jobs = SqliteJobStore(tmp_path / "jobs.sqlite3", clock=lambda: 1000.0)
    key = RequestKey("key_1:k", "fp")
    first, new = await jobs.create("imgjob_1", "key_1", 60, key)
    again, again_new = await jobs.create("imgjob_2", "key_1", 60, key)
    other_owner, _ = await jobs.create("imgjob_3", "key_2", 60, key)
    assert new and not again_new and again.id == "imgjob_1" and first.id == "imgjob_1"
    assert other_owner.id == "imgjob_3"
    with pytest.raises(Conflict):
        await jobs.create("imgjob_4", "key_1", 60, RequestKey("key_1:k", "other"))
    await jobs.close()


async def test_jobs_without_a_key_never_collide(tmp_path: Path) -> None:
    jobs = SqliteJobStore(tmp_path / "jobs.sqlite3")
    results = [await jobs.create(f"imgjob_{i}", "key_1", 60) for i in range(3)]
    assert all(new for _, new in results)
    assert await jobs.unfinished() == 3
    await jobs.close()


async def test_a_database_from_before_idempotent_jobs_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(OLD_SCHEMA)
    db.execute("insert into jobs values ('imgjob_old','key_1','succeeded',1,2,9e12,'{}',null)")
    db.commit()
    db.close()
    jobs = SqliteJobStore(path)
    old = await jobs.get("imgjob_old", "key_1")
    _, new = await jobs.create("imgjob_new", "key_1", 60, RequestKey("key_1:k", "fp"))
    assert old is not None and old.status == "succeeded" and new
    await jobs.close()


async def test_expired_jobs_are_gone(tmp_path: Path) -> None:
    now = [1000.0]
    jobs = SqliteJobStore(tmp_path / "jobs.sqlite3", clock=lambda: now[0])
    await jobs.create("imgjob_1", "key_1", 60)
    assert await jobs.get("imgjob_1", "key_1") is not None
    assert await jobs.get("imgjob_1", "key_2") is None
    now[0] += 61
    await jobs.purge_expired()
    assert await jobs.get("imgjob_1", "key_1") is None
    await jobs.close()
