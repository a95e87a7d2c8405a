"""Apply the migrations shipped in ``app/db/migrations`` to a database, safely when several
processes start at once (N workers, N replicas, a CLI next to a running gateway).

- PostgreSQL: the upgrade runs inside one transaction that first takes a transaction-level
  advisory lock; the others wait on it, then find the schema at head and do nothing. DDL is
  transactional there, so a failed upgrade leaves nothing half-done.
- SQLite: an exclusive ``flock`` on ``<database>.migrate.lock`` beside the file serialises the
  upgrades of every process (and thread) on the host, which is the only place an SQLite file
  can be shared from.

A database already at the shipped head (every start but the first after an upgrade) is
recognised with one query, without loading Alembic: its import alone costs a process about
10 MB and a tenth of a second at every start, for nothing to do.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.db.engine import create_engine
from app.db.migrations import SHIPPED_HEAD
from app.db.urls import async_url, sqlite_path

if TYPE_CHECKING:  # Alembic is imported only when there is something to migrate
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# pg_advisory_xact_lock takes a bigint; any constant works if nothing else on the server uses it.
ADVISORY_LOCK_KEY = 0x1A6E_6A7E_DB


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest revision shipped with this version of the gateway (as Alembic reads the
    migration scripts; ``SHIPPED_HEAD`` must say the same, a test checks it)."""
    from alembic.script import ScriptDirectory

    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if revision is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS}")
    return revision


async def upgrade(url: str, revision: str = "head") -> str | None:
    """Migrate the database at ``url`` to ``revision``; returns the revision it is now at."""
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        if revision == "head" and _sqlite_file_exists(url):
            async with engine.connect() as connection:
                if await _version(connection) == SHIPPED_HEAD:
                    return SHIPPED_HEAD  # nothing to do, and no lock to wait for
        async with _file_lock(url), engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
                )
            await connection.run_sync(_upgrade, revision)
            await connection.commit()
        return await current(engine)
    finally:
        await engine.dispose()


async def current(target: str | AsyncEngine) -> str | None:
    """The revision the database is at; None before the first upgrade (an SQLite file that
    does not exist is not created just to say so)."""
    if isinstance(target, str) and not _sqlite_file_exists(target):
        return None
    engine = (
        create_engine(target, pool_size=1, max_overflow=0) if isinstance(target, str) else target
    )
    try:
        async with engine.connect() as connection:
            return await _version(connection)
    finally:
        if isinstance(target, str):
            await engine.dispose()


async def _version(connection: AsyncConnection) -> str | None:
    """The revision recorded in ``alembic_version`` (one row: the history is linear); None
    when the table does not exist yet."""
    try:
        found = await connection.scalar(text("SELECT version_num FROM alembic_version"))
    except DBAPIError:  # no such table: never migrated
        await connection.rollback()
        return None
    return None if found is None else str(found)


def _sqlite_file_exists(url: str) -> bool:
    path = sqlite_path(async_url(url))
    return path is None or Path(path).exists()


def _upgrade(connection: Connection, revision: str) -> None:
    from alembic import command

    command.upgrade(alembic_config(connection), revision)


@asynccontextmanager
async def _file_lock(url: str) -> AsyncIterator[None]:
    path = sqlite_path(async_url(url))
    if path is None:
        yield
        return
    lock = Path(f"{path}.migrate.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = await asyncio.to_thread(_acquire, lock)
    try:
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def _acquire(lock: Path) -> int:
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except BaseException:
        os.close(fd)
        raise
    return fd
