"""Readiness: named checks, each an awaitable that raises when its part is not ready.

``app.wiring`` builds the list (one line per part: the job store, storage, the database and,
when configured, Redis); ``GET /readyz`` runs them all at once, each with a deadline, and
names the parts that failed. A failure is reported by its exception type only: messages may
hold URLs with credentials. A part that raises :class:`Degraded` is reported as degraded
without failing readiness (Redis down under ``redis.on_failure: local``).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

CHECK_TIMEOUT = 2.0


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    probe: Callable[[], Awaitable[object]]


class Degraded(Exception):
    """The part does not answer, and the gateway goes on without it (say why, no secrets)."""


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    parts: dict[str, str]  # name -> "ok", "degraded (...)" or what went wrong

    @property
    def failing(self) -> list[str]:
        return [name for name, state in self.parts.items() if not _fine(state)]

    @property
    def degraded(self) -> list[str]:
        return [name for name, state in self.parts.items() if state.startswith(DEGRADED)]


DEGRADED = "degraded"


def _fine(state: str) -> bool:
    return state == "ok" or state.startswith(DEGRADED)


async def run_checks(checks: Sequence[Check], deadline: float = CHECK_TIMEOUT) -> Readiness:
    states = await asyncio.gather(*(_state(check, deadline) for check in checks))
    parts = {check.name: state for check, state in zip(checks, states, strict=True)}
    return Readiness(all(_fine(state) for state in states), parts)


async def _state(check: Check, deadline: float) -> str:
    try:
        async with asyncio.timeout(deadline):
            await check.probe()
    except Degraded as why:
        return f"{DEGRADED} ({why})"
    except TimeoutError:
        return f"no answer within {deadline:g} s"
    except Exception as error:
        return f"failed ({type(error).__name__})"
    return "ok"


class _HasHealth(Protocol):
    async def health(self) -> object: ...


def storage_check(storage: object, directories: Sequence[Path]) -> Check:
    """The storage backend's own ``health()`` when it has one; else the directories it writes
    on this machine must exist and be writable."""
    if hasattr(storage, "health"):
        backend: _HasHealth = storage
        return Check("storage", backend.health)

    async def writable() -> None:
        for directory in directories:
            if not await asyncio.to_thread(os.access, directory, os.W_OK):
                raise PermissionError("a storage directory is missing or not writable")

    return Check("storage", writable)


def database_check(engine: Any) -> Check:
    """``SELECT 1`` on a SQLAlchemy async engine (imported only when a database is wired)."""
    from sqlalchemy import text

    async def select_one() -> None:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    return Check("database", select_one)


def redis_check(ping: Callable[[], Awaitable[object]], degrade: bool) -> Check:
    """Redis answers ``PING``; when it does not, ``degrade`` (``redis.on_failure: local``)
    reports it degraded (counters and cooldowns per process) instead of failing."""

    async def answers() -> None:
        try:
            await ping()
        except Exception as error:
            if degrade:
                raise Degraded("Redis unavailable: limits and cooldowns per process") from None
            raise ConnectionError("Redis unavailable") from error

    return Check("redis", answers)
