"""Checks ``serve`` makes before it starts: a data directory the process cannot write is one
clear line naming the path and the user, not a traceback from inside a worker."""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from pathlib import Path

from app.access.db_keys import DbKeys
from app.access.keys import ConfigKeys, GatewayKeys
from app.config import GatewayConfig
from app.db.engine import create_engine
from app.db.migrate import upgrade
from app.db.urls import DatabaseURLError, async_url, sqlite_path
from app.storage import local_directories

log = logging.getLogger(__name__)


def data_directories(config: GatewayConfig, database_url: str) -> list[Path]:
    """Where the gateway writes: the local image store and the SQLite database's folder."""
    database = sqlite_path(async_url(database_url))
    return [*local_directories(config.storage), *([Path(database).parent] if database else [])]


def unwritable(directory: Path) -> str | None:
    """Why this process cannot create files in ``directory`` (creating it if needed), or None."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        where, who = directory.resolve(), f"uid {os.getuid()}, gid {os.getgid()}"
        if directory.exists() and not directory.is_dir():
            return (
                f"cannot write to {where} as {who}: it is a file, not a directory; move it "
                "away, or point the config elsewhere"
            )
        reason = exc.strerror or type(exc).__name__
        return (
            f"cannot write to {where} ({reason}) as {who}: make it writable for that user "
            f"(e.g. chown -R {os.getuid()}:{os.getgid()} on the host folder or volume), or "
            "point the config elsewhere"
        )
    return None


def first_problem(config: GatewayConfig, database_url: str) -> str | None:
    try:
        directories = data_directories(config, database_url)
    except DatabaseURLError as exc:
        return f"database: {exc}"
    if config.jobs.database is not None:
        log.warning(
            "jobs.database (%s) is no longer used: async jobs live in the database "
            "(database.url or IMAGEGATE_DATABASE_URL); remove it from the config",
            config.jobs.database,
        )
    for directory in directories:
        problem = unwritable(directory)
        if problem is not None:
            return problem
    return None


def what_is_shared(config: GatewayConfig, database_url: str, workers: int) -> str:
    """One line for the start: what every process shares, and what each keeps to itself."""
    database = "SQLite" if sqlite_path(async_url(database_url)) else "the database"
    durable = f"budgets, the ledger, async jobs and idempotency answers are shared in {database}"
    if config.redis.enabled:
        fallback = (
            "refused (503) while Redis is down"
            if config.redis.on_failure == "refuse"
            else "counted per process while Redis is down"
        )
        return (
            f"{durable}; rate limits, concurrency, cooldowns and idempotency claims are shared "
            f"in Redis (prefix '{config.redis.prefix}', {fallback})"
        )
    processes = f"each of the {workers} worker processes" if workers > 1 else "this process"
    return (
        f"{durable}; rate limits, concurrency limits and carrier cooldowns are counted by "
        f"{processes} (with several workers or replicas a limit of N allows up to N per "
        "process): set redis.url (IMAGEGATE_REDIS_URL) to share them"
    )


def has_client_keys(config: GatewayConfig, database_url: str) -> bool:
    """Whether the key store the gateway will use holds a client key: one in the config
    (``auth.keys``, ``IMAGEGATE_API_KEY``) or an unrevoked one in the database (``imagegate
    keys create``). A gateway without any answers everyone. Migrates the database first, as
    the gateway does at start (a new database has no keys); raises when it cannot be read."""
    if config.auth.keys:
        return True
    path = sqlite_path(async_url(database_url))
    if path is not None and not Path(path).exists():
        return False  # a new SQLite file: no keys yet
    return asyncio.run(_database_has_keys(database_url))


async def _database_has_keys(database_url: str) -> bool:
    await upgrade(database_url)
    engine = create_engine(database_url, pool_size=1)
    try:
        store = GatewayKeys(ConfigKeys(()), DbKeys(engine))
        return not await store.is_open()
    finally:
        await engine.dispose()
