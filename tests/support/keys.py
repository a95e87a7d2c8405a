"""Keys and teams written straight into a test database (as the admin API would store them:
only the secret's hash), and the app served in process on that database."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.access.db_keys import secret_hash
from app.carriers.http import httpcore_transport
from app.config import GatewayConfig
from app.db.models import ApiKey, BudgetHold, BudgetSpend, Team
from app.main import create_app
from tests.support.app import with_lifespan_state


def _now() -> datetime:
    return datetime.now(UTC)


async def add_team(engine: AsyncEngine, name: str, **policy: Any) -> str:
    team_id = "team_" + secrets.token_hex(6)
    async with engine.begin() as connection:
        await connection.execute(
            insert(Team).values(
                id=team_id, name=name, created_at=_now(), updated_at=_now(), **policy
            )
        )
    return team_id


async def add_key(
    engine: AsyncEngine, name: str, *, team: str | None = None, **policy: Any
) -> tuple[str, str]:
    """A new key: (its id, its secret)."""
    secret = "ig-" + secrets.token_urlsafe(24)
    key_id = "key_" + secrets.token_hex(6)
    async with engine.begin() as connection:
        await connection.execute(
            insert(ApiKey).values(
                id=key_id,
                name=name,
                team_id=team,
                key_hash=secret_hash(secret),
                prefix=secret[:8],
                created_at=_now(),
                updated_at=_now(),
                **policy,
            )
        )
    return key_id, secret


async def change_key(engine: AsyncEngine, key_id: str, **values: Any) -> None:
    async with engine.begin() as connection:
        await connection.execute(update(ApiKey).where(ApiKey.id == key_id).values(**values))


async def spent(engine: AsyncEngine, owner: str) -> tuple[int, int]:
    """(spent, held) nano-dollars of ``owner`` over every period."""
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                select(BudgetSpend.spent_nanos, BudgetSpend.held_nanos).where(
                    BudgetSpend.owner == owner
                )
            )
        ).all()
    return sum(r.spent_nanos for r in rows), sum(r.held_nanos for r in rows)


async def open_holds(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return len((await connection.execute(select(BudgetHold.id))).all())


async def settled(engine: AsyncEngine) -> None:
    """Wait until the record stage has settled every hold (it works off the request path)."""
    for _ in range(500):
        if await open_holds(engine) == 0:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("budget holds left open")


def bearer(secret: str) -> dict[str, str]:
    return {"authorization": f"Bearer {secret}"}


@asynccontextmanager
async def serve_with_database(
    config: GatewayConfig, engine: AsyncEngine
) -> AsyncIterator[httpx.AsyncClient]:
    """The app on ``engine`` (keys and budgets), lifespan running, behind an httpx client."""
    app = create_app(config, http_transport=httpcore_transport, database=engine)
    async with app.router.lifespan_context(app) as state:
        transport = httpx.ASGITransport(
            app=with_lifespan_state(app, state), raise_app_exceptions=False
        )
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            yield client
