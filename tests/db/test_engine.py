"""The engine: SQLite set up for a gateway (WAL, busy timeout, foreign keys, its directory), and
datetimes that come back aware and in UTC on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import SQLITE_BUSY_TIMEOUT_MS, create_engine
from app.db.models import ApiKey, ImageRecord, Team

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
