"""Replicas as a team runs them: real ``imagegate serve`` processes on one PostgreSQL database
and one Redis, in front of the strict fake upstream. Everything is started once per module
(the processes take a second or two each) and stopped afterwards; each module has its own
database, Redis key prefix and keys."""

from __future__ import annotations

import asyncio
import base64
import secrets
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from app.db.engine import create_engine
from app.db.migrate import upgrade
from tests.support.config import base_config, write_config
from tests.support.databases import POSTGRES_ADMIN_URL, START_POSTGRES
from tests.support.gateway import RunningGateway, start_gateway, stop_gateway
from tests.support.images import png_bytes
from tests.support.keys import add_key
from tests.support.upstream import FakeUpstream, Reply, Seen, fake_upstream, json_reply

IMAGE_PRICE = 40_000_000  # dall-e-3 standard in the test config: 0.04 USD
DALLE = {"model": "dall-e-3", "prompt": "a fox", "quality": "standard"}
PNG_B64 = base64.b64encode(png_bytes((16, 16))).decode()


@dataclass
class Fleet:
    """N replicas of one gateway and what they share."""

    replicas: list[RunningGateway]
    upstream: FakeUpstream
    database_url: str
    redis_prefix: str
    delay: list[float] = field(default_factory=lambda: [0.05])  # seconds per upstream answer

    def key(self, **policy: Any) -> str:
        """A new database key with ``policy``; its secret."""

        async def create() -> str:
            engine = create_engine(self.database_url)
            try:
                return (await add_key(engine, f"k-{secrets.token_hex(3)}", **policy))[1]
            finally:
                await engine.dispose()

        return asyncio.run(create())

    def upstream_calls(self, path: str = "/v1/images/generations") -> int:
        return sum(1 for seen in self.upstream.requests if seen.path == path)


def post(
    url: str, secret: str, body: dict[str, Any] = DALLE, headers: dict[str, str] | None = None
) -> httpx.Response:
    """One request on a connection of its own."""
    with httpx.Client(timeout=30) as client:
        return client.post(
            f"{url}/v1/images/generations",
            json=body,
            headers={"authorization": f"Bearer {secret}", **(headers or {})},
        )


def spread(fleet: Fleet, count: int, send: Callable[[str], httpx.Response]) -> list[httpx.Response]:
    """``count`` requests at once, round-robin over the replicas."""
    urls = [fleet.replicas[i % len(fleet.replicas)].url for i in range(count)]
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(send, urls))


def answer_image(fleet_delay: list[float]) -> Callable[[Seen], Reply]:
    def reply(_: Seen) -> Reply:
        answer = json_reply({"created": 1, "data": [{"b64_json": PNG_B64}]})
        answer.delay = fleet_delay[0]
        return answer

    return reply


def gateway_config(
    tmp: Path, upstream: FakeUpstream, database_url: str, redis: dict[str, Any]
) -> dict[str, Any]:
    data = base_config(tmp)
    data["database"] = {"url": database_url}
    data["redis"] = redis
    data["auth"] = {"budget_sync_interval": 0.05, "key_cache_ttl": 1}
    data["routing"]["cooldown"] = {"failures": 2, "window": 60, "duration": 30}
    data["carriers"] = [
        {"name": "up", "kind": "openai", "base_url": upstream.url("/v1"), "api_key": "sk-up",
         "timeout": 10, "retries": 0},
        {"name": "flaky", "kind": "openai", "base_url": upstream.url("/flaky/v1"),
         "api_key": "sk-flaky", "timeout": 10, "retries": 0},
        {"name": "local", "kind": "local"},
    ]  # fmt: skip
    data["models"] = [
        {"name": "dall-e-3", "rules": "dall-e-3", "carriers": [{"carrier": "up"}],
         "price": {"per_image": {"standard": 0.04, "hd": 0.08, "auto": 0.04}}},
        {"name": "flaky-model", "rules": "dall-e-3", "carriers": [{"carrier": "flaky"}]},
    ]  # fmt: skip
    data["server"] = {"default_model": "dall-e-3"}
    return data


async def _admin(statement: str) -> None:
    engine = create_async_engine(POSTGRES_ADMIN_URL, poolclass=NullPool,
                                 isolation_level="AUTOCOMMIT")  # fmt: skip
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    except OSError as exc:
        pytest.fail(f"PostgreSQL is down ({exc}); start it with: {START_POSTGRES}", pytrace=False)
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A migrated PostgreSQL database of this module's own, dropped afterwards."""
    name = f"imagegate_scale_{secrets.token_hex(5)}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    admin = POSTGRES_ADMIN_URL.replace("postgresql+asyncpg://", "postgresql://")
    url = admin.rsplit("/", 1)[0] + f"/{name}"
    try:
        asyncio.run(upgrade(url))
        yield url
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def start_fleet(
    tmp: Path,
    upstream: FakeUpstream,
    database_url: str,
    redis_options: list[dict[str, Any]],
) -> Iterator[Fleet]:
    """One replica per entry of ``redis_options`` (its ``redis`` config section), all at once."""
    delay = [0.05]
    upstream.route("/v1/images/generations", answer_image(delay))
    paths = []
    for i, redis in enumerate(redis_options):
        paths.append(write_config(tmp, gateway_config(tmp, upstream, database_url, redis),
                                  name=f"replica-{i}.yaml"))  # fmt: skip
    with ThreadPoolExecutor(max_workers=len(paths)) as pool:
        replicas = list(
            pool.map(lambda i: start_gateway(paths[i], tmp / f"replica-{i}.log"), range(len(paths)))
        )
    try:
        yield Fleet(replicas, upstream, database_url, redis_options[0]["prefix"], delay)
    finally:
        for replica in replicas:
            stop_gateway(replica)


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with fake_upstream() as server:
        yield server


def wait_for(condition: Callable[[], bool], within: float, what: str) -> float:
    """Seconds until ``condition`` held; fails past ``within``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > within:
            raise AssertionError(f"not within {within} s: {what}")
        time.sleep(0.01)
    return time.monotonic() - started
