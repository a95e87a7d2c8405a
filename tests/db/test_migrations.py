"""Migrations: they build the schema the models describe, from any directory, and several
processes upgrading one fresh database at once end with one schema and no error."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import create_engine
from app.db.migrate import alembic_config, current, head, upgrade
from app.db.migrations import SHIPPED_HEAD
from app.db.models import Base

TABLES = {"alembic_version", "teams", "api_keys", "budget_spend", "budget_holds",
          "budget_hold_parts", "usage_records", "images", "async_jobs", "idempotency_results",
          "replica_leases"}  # fmt: skip


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_the_migrations_build_exactly_the_models_schema(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        assert await connection.run_sync(_differences) == []
        tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert tables == TABLES


async def test_the_comparison_sees_a_drift(engine: AsyncEngine) -> None:
    """Guards the guard: a column the models do not know is reported."""
    async with engine.begin() as connection:
        await connection.execute(text("ALTER TABLE images ADD COLUMN stray INTEGER"))
    async with engine.connect() as connection:
        differences = await connection.run_sync(_differences)
    assert [d[0] for d in differences if isinstance(d, tuple)] == ["remove_column"]


async def test_upgrade_reports_the_head_and_is_idempotent(empty_database_url: str) -> None:
    assert await current(empty_database_url) is None
    assert await upgrade(empty_database_url) == head() == "0004"
    assert await upgrade(empty_database_url) == head()
    assert await current(empty_database_url) == head()


async def test_downgrade_to_nothing_and_back(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(lambda c: command.downgrade(alembic_config(c), "base"))
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert tables <= {"alembic_version"}
    finally:
        await engine.dispose()
    assert await upgrade(database_url) == head()


def test_the_shipped_head_is_the_newest_migration() -> None:
    assert head() == SHIPPED_HEAD


async def test_a_database_at_head_is_recognised_without_loading_alembic(
    empty_database_url: str,
) -> None:
    """A start on a migrated database answers from one query; Alembic stays unloaded."""
    await upgrade(empty_database_url)
    check = (
        "import asyncio, sys; from app.db.migrate import upgrade; "
        "print(asyncio.run(upgrade(sys.argv[1])), 'alembic' in sys.modules)"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", check, empty_database_url, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    assert process.returncode == 0 and out.decode().split() == [SHIPPED_HEAD, "False"]


_UPGRADE = "import asyncio, sys; from app.db.migrate import upgrade; print(asyncio.run(upgrade(sys.argv[1])))"  # fmt: skip


async def test_processes_starting_at_once_migrate_one_database_safely(
    empty_database_url: str, tmp_path: Path
) -> None:
    """Four processes, started together in an unrelated directory, upgrade one fresh database:
    all succeed, the schema is built once and matches the models."""
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", _UPGRADE, empty_database_url, cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(4)
    ]  # fmt: skip
    outputs = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in processes)), 120)
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err.decode()
        assert out.decode().strip() == head()
    engine = create_engine(empty_database_url)
    try:
        async with engine.connect() as connection:
            versions = (await connection.execute(text("SELECT * FROM alembic_version"))).all()
            assert await connection.run_sync(_differences) == []
    finally:
        await engine.dispose()
    assert [tuple(v) for v in versions] == [(head(),)]
