"""Throwaway databases for tests: an SQLite file, or a PostgreSQL database created on the
local server (127.0.0.1:5432, user postgres, trust auth) and dropped afterwards.

PostgreSQL is required, not optional: when it is down the tests fail with the command that
starts it, because a suite that silently skips half its databases proves half of what it says.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

# The server's maintenance database, from which test databases are created and dropped.
POSTGRES_ADMIN_URL = os.environ.get(
    "IMAGEGATE_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
START_POSTGRES = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
KINDS = ("sqlite", "postgresql")


@asynccontextmanager
async def fresh_database(kind: str, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of a new, empty database of ``kind``, as a user would write it."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'imagegate.sqlite3'}"
        return
    name = f"imagegate_test_{secrets.token_hex(6)}"
    await _admin(f'CREATE DATABASE "{name}"')
    try:
        admin = POSTGRES_ADMIN_URL.replace("postgresql+asyncpg://", "postgresql://")
        yield admin.rsplit("/", 1)[0] + f"/{name}"
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _admin(statement: str) -> None:
    engine = create_async_engine(POSTGRES_ADMIN_URL, poolclass=NullPool,
                                 isolation_level="AUTOCOMMIT")  # fmt: skip
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    except (OSError, DBAPIError) as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL} ({exc}). The database tests "
            f"need it; start it with: {START_POSTGRES}",
            pytrace=False,
        )
    finally:
        await engine.dispose()
