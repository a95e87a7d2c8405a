"""One ``AsyncEngine`` per process, from a URL as users write it (see ``urls``).

SQLite: WAL (readers never block the writer), ``busy_timeout`` (a writer waits for the lock
instead of failing with "database is locked"), ``synchronous=FULL`` (a committed spend survives a
power cut: money beats one fsync), foreign keys on; the parent directory is created. Writes
serialise on SQLite, so the pool stays small. A connection goes back to the pool without the
pool's own "rollback on return" when the driver says no transaction is open: that rollback is
a no-op on SQLite but a round trip to aiosqlite's thread after every committed transaction.
The driver opens a transaction at the first
write, so a transaction that starts with its write waits for the lock (``busy_timeout``)
instead of failing: the repositories write first and read what ``RETURNING`` gives back.

SQLite lets one writer at a time hold its lock, and one that finds it taken polls with sleeps
of up to 100 ms: under load a writer can miss the free moments between other transactions for
seconds (a budget lease's growth waited 4 s behind the ledger's batches at c=64).
``write_turn`` makes this process's writers on the serving path take turns in arrival order
instead; the busy timeout still arbitrates between processes.

PostgreSQL (asyncpg): a pool sized for a gateway, ``pool_pre_ping`` because idle connections
die behind NATs, PgBouncer and failovers, and ``pool_recycle`` to retire old ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, PoolResetState

from app.db.types import json_text
from app.db.urls import async_url, sqlite_path

SQLITE_BUSY_TIMEOUT_MS = 30_000
_SQLITE_PRAGMAS = (
    f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
)


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    pool_timeout: float = 30.0,
    connect_timeout: float = 10.0,
) -> AsyncEngine:
    """An async engine for ``url`` (``postgresql://...``, ``sqlite:///data/x.sqlite3``)."""
    target = async_url(url)
    options: dict[str, Any] = {"pool_timeout": pool_timeout, "json_serializer": json_text}
    if target.drivername.startswith("sqlite"):
        path = sqlite_path(target)
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            options |= {"pool_size": min(pool_size, 5), "max_overflow": max_overflow}
        engine = create_async_engine(
            target,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            pool_reset_on_return=None,  # _sqlite_on_reset does it when there is something to undo
            **options,
        )
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        event.listen(engine.sync_engine, "reset", _sqlite_on_reset)
        return engine
    options |= {
        "pool_size": pool_size,
        "max_overflow": max_overflow,
        "pool_pre_ping": True,
        "pool_recycle": 1800,
        "connect_args": {"timeout": connect_timeout},
    }
    return create_async_engine(target, **options)


def _sqlite_on_connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def _sqlite_on_reset(
    dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry, state: PoolResetState
) -> None:
    """Roll back a connection coming back to the pool only if it is inside a transaction
    (SQLAlchemy has not just ended it, and SQLite says one is open)."""
    if state.terminate_only or not state.asyncio_safe or state.transaction_was_reset:
        return
    if record.driver_connection is not None and record.driver_connection.in_transaction:
        dbapi_connection.rollback()


_TURNS: weakref.WeakKeyDictionary[Engine, dict[asyncio.AbstractEventLoop, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


@contextlib.asynccontextmanager
async def write_turn(engine: AsyncEngine) -> AsyncIterator[None]:
    """Around a write transaction: on SQLite, wait for this process's other writers first, in
    arrival order (``asyncio.Lock`` is FIFO); on PostgreSQL, nothing (row locks)."""
    if engine.dialect.name != "sqlite":
        yield
        return
    by_loop = _TURNS.setdefault(engine.sync_engine, {})
    lock = by_loop.setdefault(asyncio.get_running_loop(), asyncio.Lock())
    async with lock:
        yield
