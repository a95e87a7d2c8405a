"""Fixtures for replica tests: real ``imagegate serve`` processes sharing one database (a fresh
PostgreSQL database, or one SQLite file for workers on one host) and one strict fake upstream
on loopback, whose image answers can be held at a gate."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from app.db.migrate import upgrade
from tests.support.config import base_config, write_config
from tests.support.databases import fresh_database
from tests.support.gateway import RunningGateway, start_gateway, stop_gateway
from tests.support.images import png_bytes
from tests.support.upstream import FakeUpstream, Gate, Reply, Seen, fake_upstream

KEY = "gk-replicas-1"
AUTH = {"authorization": f"Bearer {KEY}"}
GENERATIONS = "/v1/images/generations"
Start = Callable[..., RunningGateway]


class DistinctImages:
    """An upstream handler answering each call with a PNG of its own colour, after ``delay``
    seconds: equal answers from the gateway prove that one call served them all."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self._calls = itertools.count(1)

    def __call__(self, seen: Seen) -> Reply:
        del seen
        png = png_bytes((8, 8), (next(self._calls) * 40 % 256, 10, 20))
        body = {"created": 1, "data": [{"b64_json": base64.b64encode(png).decode()}]}
        return Reply(
            body=orjson.dumps(body), headers={"content-type": "application/json"}, delay=self.delay
        )


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with fake_upstream() as server:
        yield server


def held_images(upstream: FakeUpstream, delay: float = 0.0) -> Gate:
    """Every image call waits at the returned gate (after ``delay``), then gets an image."""
    gate = upstream.gate()
    png = base64.b64encode(png_bytes((8, 8))).decode()
    body = {"created": 1, "data": [{"b64_json": png}]}
    steps: list[tuple[Any, ...]] = [("wait", gate), ("json", 200, body)]
    if delay:
        steps.insert(0, ("sleep", delay))
    upstream.route(GENERATIONS, steps)
    return gate


@pytest.fixture
def postgres_url(tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database, dropped afterwards (its own loop in a thread:
    pytest-asyncio may already run one)."""
    urls: list[str] = []
    ready, done = threading.Event(), threading.Event()

    async def hold() -> None:
        async with fresh_database("postgresql", tmp_path) as url:
            await upgrade(url)
            urls.append(url)
            ready.set()
            await asyncio.to_thread(done.wait)

    worker = threading.Thread(target=asyncio.run, args=(hold(),))
    worker.start()
    ready.wait(timeout=30)
    try:
        assert urls, "the PostgreSQL test database could not be created"
        yield urls[0]
    finally:
        done.set()
        worker.join(timeout=30)


@pytest.fixture
def replicas(tmp_path: Path, upstream: FakeUpstream) -> Iterator[Start]:
    """``start(database_url, *serve_args, jobs=...)``: a gateway process on that database whose
    carrier is the fake upstream; all are stopped afterwards (killed ones are reaped)."""
    started: list[RunningGateway] = []

    def start(database_url: str, *extra: str, **sections: Any) -> RunningGateway:
        data = base_config(tmp_path)
        data["database"] = {"url": database_url}
        data["carriers"][0]["base_url"] = upstream.url("/v1")
        data["carriers"][0]["timeout"] = 120  # held answers outlast process start-ups
        data["auth"] = {"keys": [KEY]}
        data.update(sections)
        name = f"replica-{len(started)}"
        path = write_config(tmp_path, data, name=f"{name}.yaml")
        gateway = start_gateway(path, tmp_path / f"{name}.log", *extra)
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        with contextlib.suppress(ProcessLookupError):
            stop_gateway(gateway)
