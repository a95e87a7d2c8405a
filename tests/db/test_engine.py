"""The engine: SQLite set up for a gateway (WAL, busy timeout, foreign keys, its directory), and
datetimes that come back aware and in UTC on both databases."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import aiosqlite
import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import SQLITE_BUSY_TIMEOUT_MS, create_engine, write_turn
from app.db.models import ApiKey, ImageRecord, Team
from app.db.types import json_text

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


async def test_sqlite_gets_wal_a_busy_timeout_foreign_keys_and_its_directory(
    tmp_path: Path,
) -> None:
    path = tmp_path / "not" / "yet" / "there.sqlite3"
    engine = create_engine(f"sqlite:///{path}")
    try:
        async with engine.connect() as connection:
            pragmas = [
                (await connection.execute(text(f"PRAGMA {name}"))).scalar()
                for name in ("journal_mode", "busy_timeout", "foreign_keys", "synchronous")
            ]
    finally:
        await engine.dispose()
    assert pragmas == ["wal", SQLITE_BUSY_TIMEOUT_MS, 1, 2]  # synchronous 2 = FULL
    assert path.exists()


async def test_datetimes_come_back_aware_utc_and_naive_ones_are_refused(
    engine: AsyncEngine,
) -> None:
    paris = timezone(timedelta(hours=1))
    row = {"id": "img_1", "request_id": "req_1", "model": "gpt-image-2", "format": "png",
           "width": 1024, "height": 1024, "bytes": 1, "location": "a/b.png",
           "created_at": NOW.astimezone(paris), "expires_at": NOW + timedelta(days=1)}  # fmt: skip
    async with engine.begin() as connection:
        await connection.execute(insert(ImageRecord).values(**row))
    async with engine.connect() as connection:
        created, expires = (
            await connection.execute(select(ImageRecord.created_at, ImageRecord.expires_at))
        ).one()
        later = (
            await connection.execute(
                select(ImageRecord.id).where(ImageRecord.expires_at > NOW + timedelta(hours=23))
            )
        ).scalars()
        assert list(later) == ["img_1"]
    assert created == NOW and created.tzinfo == UTC and expires == NOW + timedelta(days=1)
    with pytest.raises(StatementError, match="naive datetime"):
        async with engine.begin() as connection:
            await connection.execute(
                insert(ImageRecord).values(
                    **row | {"id": "img_2", "created_at": datetime(2026, 1, 1)}
                )
            )


async def test_foreign_keys_and_checks_are_enforced(engine: AsyncEngine) -> None:
    key = {"id": "key_1", "name": "alice", "team_id": "team_missing", "key_hash": "h" * 64,
           "prefix": "ig-abcd", "created_at": NOW, "updated_at": NOW}  # fmt: skip
    with pytest.raises(IntegrityError):
        async with engine.begin() as connection:
            await connection.execute(insert(ApiKey).values(**key))
    team = {"id": "team_1", "name": "design", "created_at": NOW, "updated_at": NOW}
    for bad in ({"budget_period": "year"}, {"budget_nanos": -1}, {"max_n": 0}):
        with pytest.raises(IntegrityError):
            async with engine.begin() as connection:
                await connection.execute(insert(Team).values(**team | bad))
    async with engine.begin() as connection:
        await connection.execute(insert(Team).values(**team))
        await connection.execute(insert(ApiKey).values(**key | {"team_id": "team_1"}))
        policy = (await connection.execute(select(Team.budget_period, Team.meta))).one()
    assert tuple(policy) == ("month", {})


async def test_sqlite_connections_go_back_to_the_pool_rolled_back_only_when_needed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a commit the pool skips its rollback (a no-op on SQLite, but a trip to the
    driver's thread); a connection that comes back inside a transaction is rolled back."""
    engine = create_engine(f"sqlite:///{tmp_path / 'pool.sqlite3'}", pool_size=1)
    rollbacks: list[bool] = []
    real_rollback = aiosqlite.Connection.rollback

    async def counted(self: aiosqlite.Connection) -> None:
        rollbacks.append(self.in_transaction)
        await real_rollback(self)

    try:
        async with engine.begin() as connection:  # SQLAlchemy's first connect rolls back once
            await connection.execute(text("CREATE TABLE t (x INTEGER)"))
        monkeypatch.setattr(aiosqlite.Connection, "rollback", counted)
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO t VALUES (0)"))
            await connection.execute(text("DELETE FROM t"))
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO t VALUES (1)"))
        assert rollbacks == []  # two commits, no rollback on return

        connection = await engine.connect()  # a write behind SQLAlchemy's back, not committed
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None
        await driver.execute("INSERT INTO t VALUES (2)")
        await connection.close()
        assert rollbacks == [True]
        async with engine.connect() as connection:  # the same pooled connection, clean
            assert (await connection.execute(text("SELECT x FROM t"))).scalars().all() == [1]
    finally:
        await engine.dispose()


async def test_json_columns_round_trip_what_orjson_writes_and_what_it_refuses(
    engine: AsyncEngine,
) -> None:
    meta = {"owner": "design", "nested": {"list": [1, 2.5, None, True]}, "big": 2**70}
    team = {"id": "team_1", "name": "design", "created_at": NOW, "updated_at": NOW}
    async with engine.begin() as connection:
        await connection.execute(insert(Team).values(**team, meta=meta))
        await connection.execute(
            insert(Team).values(**team | {"id": "team_2", "name": "ops"}, meta={"small": 1})
        )
    async with engine.connect() as connection:
        stored = {row[0]: row[1] for row in await connection.execute(select(Team.id, Team.meta))}
    assert stored == {"team_1": meta, "team_2": {"small": 1}}


def test_json_text_is_compact_and_falls_back_for_integers_beyond_64_bits() -> None:
    assert json_text({"a": [1, None], "b": {"c": "é"}}) == '{"a":[1,null],"b":{"c":"é"}}'
    assert json_text({1: "x"}) == '{"1":"x"}'  # keys become strings, as json.dumps does
    assert json_text({"big": 2**70}) == '{"big": 1180591620717411303424}'
    with pytest.raises(TypeError):
        json_text({"not": object()})


async def test_writers_take_turns_in_arrival_order_on_sqlite_only(engine: AsyncEngine) -> None:
    order: list[str] = []
    first_in = asyncio.Event()
    release_first = asyncio.Event()

    async def writer(name: str) -> None:
        async with write_turn(engine):
            order.append(f"{name} in")
            if name == "first":
                first_in.set()
                await release_first.wait()
            order.append(f"{name} out")

    async with asyncio.TaskGroup() as group:
        group.create_task(writer("first"))
        await first_in.wait()
        for name in ("second", "third"):
            group.create_task(writer(name))
        await asyncio.sleep(0.01)
        if engine.dialect.name == "sqlite":  # the others wait, then go in the order they came
            assert order == ["first in"]
        else:  # PostgreSQL locks rows, not the database: nobody waits here
            assert order == ["first in", "second in", "second out", "third in", "third out"]
        release_first.set()
    if engine.dialect.name == "sqlite":
        assert order == [
            "first in", "first out", "second in", "second out", "third in", "third out"
        ]  # fmt: skip
