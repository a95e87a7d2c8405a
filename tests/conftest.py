"""Shared fixtures: configs written as real YAML files, the app driven in process, respx and the
fake upstream standing in for upstreams. Helpers live in ``tests/support``."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from app.carriers import CARRIER_OPTIONS
from app.config import GatewayConfig, load_config
from tests.support.app import serve_in_process
from tests.support.config import MakeConfig, base_config, write_config
from tests.support.upstream import FakeUpstream, fake_upstream


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    """A command run in process (``serve``, ``db``) configures root logging with a handler on
    the stderr of its test; put the root logger back, so later tests never log to a closed
    capture stream ("--- Logging error ---" in their stderr)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def make_config(tmp_path: Path) -> MakeConfig:
    """Build a config from the test base, with top-level sections replaced or edited."""

    def make(
        edit: Callable[[dict[str, Any]], None] | None = None, **sections: Any
    ) -> GatewayConfig:
        data = base_config(tmp_path)
        data.update(sections)
        if edit is not None:
            edit(data)
        return load_config(write_config(tmp_path, data), {}, CARRIER_OPTIONS)

    return make


@pytest.fixture
def upstream(request: pytest.FixtureRequest) -> Iterator[respx.MockRouter]:
    """respx standing in for every upstream (the in-process ASGI client is not patched).

    Strict: a request no route matches fails, and so does a route that is never called. A test
    that declares a route only to show it is *not* called says so with respx's own marker,
    ``@pytest.mark.respx(assert_all_called=False)``.
    """
    marker = request.node.get_closest_marker("respx")
    options: dict[str, Any] = {"assert_all_mocked": True, "assert_all_called": True}
    options.update(marker.kwargs if marker is not None else {})
    with respx.mock(**options) as router:
        yield router


@pytest.fixture
async def client(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> AsyncIterator[httpx.AsyncClient]:
    async with serve_in_process(make_config()) as c:
        yield c


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every TCP connection attempted during the test, as (address, port), wherever it goes."""
    attempted: list[tuple[str, int]] = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            attempted.append((str(address[0]), int(address[1])))
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            attempted.append((str(address[0]), int(address[1])))
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    return attempted


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    """A strict fake upstream on 127.0.0.1; an unscripted request fails the test at teardown."""
    with fake_upstream() as server:
        yield server
