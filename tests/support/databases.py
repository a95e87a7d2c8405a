"""Throwaway databases for tests: an SQLite file, or a PostgreSQL database created on the
local server (127.0.0.1:5432, user postgres, trust auth) and dropped afterwards.

The fixtures, each run once per database (``[sqlite]`` and ``[postgresql]``):

- ``empty_database_url``: a new database with no tables (for migration tests);
- ``database_url``: the same, migrated to the newest revision;
- ``engine``: an ``AsyncEngine`` on ``database_url``, disposed afterwards.

``sqlite_database(path)`` gives any test config its own migrated SQLite file, copied from one
template migrated once per test process (a fresh migration per app start would cost every API
test about 0.1 s).

``tests/db/conftest.py`` re-exports them; another folder does the same (or the root conftest
lists this module in ``pytest_plugins`` to offer them everywhere).

PostgreSQL is required, not optional: when it is down the tests fail with the command that
starts it, because a suite that silently skips half its databases proves half of what it says.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import secrets
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from app.db.engine import create_engine
from app.db.migrate import upgrade
from app.db.urls import masked

# The server's maintenance database, from which test databases are created and dropped.
POSTGRES_ADMIN_URL = os.environ.get(
    "IMAGEGATE_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
START_POSTGRES = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
KINDS = ("sqlite", "postgresql")
_TEMPLATE: list[Path] = []
_TEMPLATE_LOCK = threading.Lock()


def sqlite_database(path: Path) -> str:
    """The URL of a migrated SQLite database at ``path`` (copied from the template)."""
    with _TEMPLATE_LOCK:
        if not _TEMPLATE:
            folder = Path(tempfile.mkdtemp(prefix="imagegate-template-"))
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
            template = folder / "template.sqlite3"
            # Its own thread and loop: this may be called while a test's loop runs.
            worker = threading.Thread(target=asyncio.run, args=(upgrade(f"sqlite:///{template}"),))
            worker.start()
            worker.join()
            _TEMPLATE.append(template)
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_TEMPLATE[0], path)
    return f"sqlite:///{path}"


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
            f"PostgreSQL is not reachable at {masked(POSTGRES_ADMIN_URL)} ({exc}). The "
            f"database tests need it; start it with: {START_POSTGRES}",
            pytrace=False,
        )
    finally:
        await engine.dispose()


@pytest.fixture(params=KINDS)
async def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
async def database_url(empty_database_url: str) -> str:
    await upgrade(empty_database_url)
    return empty_database_url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()
