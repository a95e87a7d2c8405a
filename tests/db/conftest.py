"""Every database test runs twice: on a fresh SQLite file and on a fresh PostgreSQL database.

- ``empty_database_url``: a new database with no tables (for migration tests);
- ``database_url``: the same, migrated to the newest revision;
- ``engine``: an ``AsyncEngine`` on ``database_url``, disposed afterwards.

Other test folders get the same fixtures by importing them from here or from
``tests.support.databases``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import create_engine
from app.db.migrate import upgrade
from tests.support.databases import KINDS, fresh_database


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
