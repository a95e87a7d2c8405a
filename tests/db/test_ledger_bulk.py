"""The ledger's rows go to the driver already converted (``app.db.bulk``): on SQLite and
PostgreSQL they store what SQLAlchemy's Core insert stored and read back equal through the
models, every column of the tables is written, and a column the rows lack fails at once."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import Column, Integer, MetaData, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.dialects.sqlite.aiosqlite import dialect as aiosqlite_dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config.runtime import LedgerConfig
from app.db.bulk import BulkInsert
from app.db.engine import create_engine
from app.db.migrate import upgrade
from app.db.models import ImageRecord
from app.db.models import UsageRecord as UsageRow
from app.db.types import UtcDateTime, from_timestamp
from app.domain import StoredImage, StoredRef, UsageRecord
from app.images_index.rows import ImageRows
from app.usage.ledger import IMAGES, USAGE, LedgerSink, usage_row

DIALECTS = [aiosqlite_dialect(), asyncpg_dialect()]
TOKENS = {"input_tokens": 7, "output_tokens": 70, "details": {"image_tokens": 0}}


def full(request_id: str) -> UsageRecord:
    """Every column set: a team, a usage object, every flag up, an image kept a day."""
    image = StoredImage(
        "webp", 321, ref=StoredRef(f"img_{request_id}", "webp", 321), width=64, height=48
    )
    return UsageRecord(
        request_id, "key_1", "alice", "gpt-image-2", "generate", "succeeded",
        carrier="up", attempts=("down", "up"), images=1, pixels=64 * 48, size="64x48",
        quality="high", output_format="webp", cost_nanos=12_345, latency=0.0456,
        stream=True, async_job=True, replay=True, client_gone=True,
        created_at=1_767_225_599.25, team="team_1", prompt="a fox", usage=TOKENS,
        stored=(image,), estimated_cost_nanos=99_999, retention=86_400.0,
    )  # fmt: skip


def bare(request_id: str) -> UsageRecord:
    """Every nullable column NULL, every flag down, a whole second (no microseconds)."""
    image = StoredImage("png", 10, ref=StoredRef(f"img_{request_id}", "png", 10))
    return UsageRecord(
        request_id, "open", "open", "m", "generate", "failed", created_at=1_700_000_000.0,
        stored=(image,),
    )  # fmt: skip


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_the_fast_path_writes_every_column_of_both_tables(dialect: Any) -> None:
    module = postgresql if dialect.name == "postgresql" else sqlite
    for statement, table in (
        (insert(USAGE), USAGE),
        (module.insert(IMAGES).on_conflict_do_nothing(), IMAGES),
    ):
        bulk = BulkInsert(statement, dialect)
        assert sorted(bulk.columns) == sorted(table.columns.keys())
        assert f"{table.name} ({', '.join(bulk.columns)}) VALUES" in bulk.sql
    # the rows the ledger builds name exactly the tables' columns
    record = full("r1")
    assert sorted(usage_row(record)) == sorted(USAGE.columns.keys())
    [image] = ImageRows().rows(record)
    assert sorted(image) == sorted(IMAGES.columns.keys())


def test_a_column_the_rows_lack_fails_at_once() -> None:
    grown = USAGE.to_metadata(MetaData())
    grown.append_column(Column("new_column", Integer(), default=0))
    bulk = BulkInsert(insert(grown), aiosqlite_dialect())
    with pytest.raises(KeyError, match="new_column"):
        bulk.values(usage_row(full("r1")))


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_datetimes_convert_as_sqlalchemy_binds_them(dialect: Any) -> None:
    fast = UtcDateTime.bind_value(dialect.name)
    slow = UtcDateTime()._cached_bind_processor(dialect)
    assert slow is not None
    plus_two = timezone(timedelta(hours=2))
    for value in (
        datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),  # no microseconds: still six digits
        datetime(2026, 1, 2, 3, 4, 5, 999_999, tzinfo=plus_two),  # another zone: to UTC
        datetime(1, 1, 1, tzinfo=UTC),
        None,
    ):
        assert fast(value) == slow(value)
    with pytest.raises(ValueError, match="naive"):
        fast(datetime(2026, 1, 2))


async def stored(engine: AsyncEngine, table: str, ids: list[str]) -> list[tuple[Any, ...]]:
    """The rows as the driver returns them (no SQLAlchemy types), without their ids."""
    async with engine.connect() as connection:
        found = {}
        for row_id in ids:
            query = text(f"SELECT * FROM {table} WHERE id = :id")
            row = (await connection.execute(query, {"id": row_id})).mappings().one()
            found[row_id] = tuple(value for name, value in row.items() if name != "id")
    return [found[row_id] for row_id in ids]


async def models(engine: AsyncEngine, model: Any, ids: list[str]) -> list[dict[str, Any]]:
    async with engine.connect() as connection:
        rows = (await connection.execute(select(model).where(model.id.in_(ids)))).mappings()
        by_id = {row["id"]: {k: v for k, v in row.items() if k != "id"} for row in rows}
    return [by_id[row_id] for row_id in ids]


async def test_rows_read_back_as_the_core_insert_wrote_them(engine: AsyncEngine) -> None:
    """Each record written twice: by the ledger, and by SQLAlchemy's Core insert of the same
    values (as the ledger wrote before); both store and read back the same."""
    sink = LedgerSink(engine, LedgerConfig(), images=ImageRows("s3", 3600.0, store_prompts=True))
    records = [full("r1"), bare("r2")]
    for record in records:
        sink.write(record)
    assert await sink.flush() is True
    async with engine.connect() as connection:
        ledger_ids = list(
            await connection.scalars(select(UsageRow.id).order_by(UsageRow.request_id))
        )
    usage = [usage_row(record, f"core_{record.request_id}") for record in records]
    images = [row for record in records for row in sink._images.rows(record)]
    for row in images:
        row["id"] = "core_" + row["id"]
    module = postgresql if engine.dialect.name == "postgresql" else sqlite
    async with engine.begin() as connection:
        await connection.execute(insert(USAGE), usage)
        await connection.execute(module.insert(IMAGES).on_conflict_do_nothing(), images)
    core_ids = [row["id"] for row in usage]
    image_ids = [f"img_{record.request_id}" for record in records]
    core_image_ids = ["core_" + image_id for image_id in image_ids]

    assert await stored(engine, "usage_records", ledger_ids) == await stored(
        engine, "usage_records", core_ids
    )
    assert await stored(engine, "images", image_ids) == await stored(
        engine, "images", core_image_ids
    )
    written = await models(engine, UsageRow, ledger_ids)
    assert written == await models(engine, UsageRow, core_ids)
    assert await models(engine, ImageRecord, image_ids) == await models(
        engine, ImageRecord, core_image_ids
    )

    first, second = written
    created = from_timestamp(records[0].created_at)
    assert first["created_at"] == created and first["created_at"].tzinfo == UTC
    assert first["created_at"].microsecond == 250_000
    assert first["usage_tokens"] == TOKENS and first["team_id"] == "team_1"
    assert (first["stream"], first["async_job"], first["replay"], first["client_gone"]) == (
        True, True, True, True,
    )  # fmt: skip
    assert (first["attempts"], first["latency_ms"], first["settled_cost_nanos"]) == (2, 46, 12_345)
    assert second["usage_tokens"] is None and second["carrier"] is None
    assert second["team_id"] is None and second["estimated_cost_nanos"] is None
    assert (second["stream"], second["replay"]) == (False, False)
    assert second["created_at"] == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    kept, forever = await models(engine, ImageRecord, image_ids)
    assert kept["expires_at"] == created + timedelta(days=1) and kept["backend"] == "s3"
    assert (kept["prompt"], kept["deleted_at"], kept["width"]) == ("a fox", None, 64)
    assert forever["prompt"] is None and forever["width"] == 0
    assert forever["expires_at"] == from_timestamp(records[1].created_at) + timedelta(hours=1)


async def test_an_image_row_already_there_is_skipped(engine: AsyncEngine) -> None:
    sink = LedgerSink(engine, LedgerConfig())
    sink.write(full("r1"))
    assert await sink.flush() is True
    sink.write(replace(full("r2"), stored=full("r1").stored))  # the same image id again
    sink.write(full("r3"))
    assert await sink.flush() is True
    async with engine.connect() as connection:
        requests = list(await connection.scalars(select(ImageRecord.request_id)))
        usage = await connection.scalar(select(text("count(*)")).select_from(UsageRow))
    assert sorted(requests) == ["r1", "r3"] and usage == 3


async def test_on_sqlite_a_batch_is_one_driver_call_per_table_and_a_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each call is a trip to aiosqlite's thread: SQLAlchemy's adapter would make three per
    statement (cursor, run, close) and one more rollback when the connection goes back."""
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    await upgrade(url)
    engine = create_engine(url)
    calls: list[str] = []
    for name in ("cursor", "execute", "executemany", "commit", "rollback"):
        real = getattr(aiosqlite.Connection, name)

        def counted(self: Any, *args: Any, _name: str = name, _real: Any = real) -> Any:
            calls.append(_name)
            return _real(self, *args)

        monkeypatch.setattr(aiosqlite.Connection, name, counted)
    try:
        sink = LedgerSink(engine, LedgerConfig())
        sink.write(full("warm-up"))  # the pool's first connection
        assert await sink.flush() is True
        calls.clear()
        for index in range(5):
            sink.write(full(f"r{index}"))
        assert await sink.flush() is True
        assert calls == ["executemany", "executemany", "commit"]
        sink.write(full("r0"))  # the same image id: skipped; the usage row is new
        assert await sink.flush() is True
        async with engine.connect() as connection:
            count = select(text("count(*)"))
            assert await connection.scalar(count.select_from(UsageRow)) == 7
            assert await connection.scalar(count.select_from(ImageRecord)) == 6
    finally:
        await engine.dispose()


async def test_on_sqlite_a_duplicate_row_is_sqlalchemys_integrity_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    await upgrade(url)
    engine = create_engine(url)
    try:
        bulk = BulkInsert(insert(USAGE), engine.dialect)
        row = bulk.values(usage_row(full("r1"), "use_1"))
        async with engine.begin() as connection:
            await bulk.run(connection, [row])
        with pytest.raises(IntegrityError) as raised:
            async with engine.begin() as connection:
                await bulk.run(connection, [bulk.values(usage_row(full("r2"), "use_2")), row])
        assert "team_1" not in str(raised.value)  # the rows' values stay out of the message
        async with engine.connect() as connection:  # the failed batch left nothing
            ids = await connection.scalars(select(UsageRow.id))
            assert list(ids) == ["use_1"]
    finally:
        await engine.dispose()
