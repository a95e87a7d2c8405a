"""Shared fixtures: configs written as real YAML files, and the app driven in process."""

from __future__ import annotations

import io
import shutil
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
import yaml
from PIL import Image

from app.carriers import CARRIER_OPTIONS
from app.carriers.http import httpcore_transport
from app.config import GatewayConfig, load_config
from app.domain import ImageFormat, InputImage, InputOrigin
from app.inputs.fetch import Resolver
from app.inputs.spool import MemoryBlob
from app.main import create_app

ROOT = Path(__file__).resolve().parent.parent
UPSTREAM = "http://upstream.test/v1"
UPSTREAM_KEY = "sk-test-UPSTREAM-SECRET-1234567890"

MakeConfig = Callable[..., GatewayConfig]


def png_bytes(
    size: tuple[int, int] = (32, 32), colour: tuple[int, ...] = (200, 30, 30), mode: str = "RGB"
) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, colour).save(out, "PNG")
    return out.getvalue()


def input_image(
    size: tuple[int, int] = (32, 32),
    fmt: ImageFormat = "png",
    *,
    param: str = "image",
    has_alpha: bool = False,
    byte_size: int | None = None,
    origin: InputOrigin = "upload",
) -> InputImage:
    """An already-inspected input image (for pure tests: the bytes are not looked at)."""
    return InputImage(
        blob=MemoryBlob(b"\0" * (byte_size if byte_size is not None else 16)),
        format=fmt,
        width=size[0],
        height=size[1],
        has_alpha=has_alpha,
        filename=f"input.{fmt}",
        param=param,
        origin=origin,
    )


def base_config(tmp_path: Path) -> dict[str, Any]:
    return {
        "server": {"default_model": "gpt-image-2"},
        "routing": {"retry": {"backoff_base": 0.001, "backoff_max": 0.01, "max_retry_after": 1}, "seed": 7},
        "storage": {"directory": str(tmp_path / "images")},
        "jobs": {"database": str(tmp_path / "jobs.sqlite3")},
        "carriers": [
            {"name": "up", "kind": "openai", "base_url": UPSTREAM, "api_key": UPSTREAM_KEY,
             "timeout": 5},
            {"name": "local", "kind": "local"},
        ],
        "models": [
            {"name": "gpt-image-2", "aliases": ["gi2"], "rules": "gpt-image-2",
             "price": {"input_text_per_mtok": 5, "input_image_per_mtok": 8,
                       "output_image_per_mtok": 30},
             "carriers": [{"carrier": "up", "model": "upstream-gpt-image-2"}]},
            {"name": "gpt-image-1", "rules": "gpt-image-1", "carriers": [{"carrier": "up"}]},
            {"name": "gpt-image-2.5-flare", "rules": "gpt-image-2.5",
             "carriers": [{"carrier": "up"}]},
            {"name": "dall-e-3", "rules": "dall-e-3", "carriers": [{"carrier": "up"}],
             "price": {"per_image": {"standard": 0.04, "hd": 0.08, "auto": 0.04}}},
            {"name": "dall-e-2", "rules": "dall-e-2", "carriers": [{"carrier": "local"}]},
            {"name": "offline", "rules": "gpt-image-2", "carriers": [{"carrier": "local"}]},
        ],
    }  # fmt: skip


def write_config(tmp_path: Path, data: dict[str, Any], name: str = "gateway.yaml") -> Path:
    config_dir = tmp_path / "config"
    config_dir.mkdir(exist_ok=True)
    shutil.copy(ROOT / "config" / "rules.yaml", config_dir / "rules.yaml")
    path = config_dir / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


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


@asynccontextmanager
async def serve_in_process(
    config: GatewayConfig, resolver: Resolver | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running, behind an in-process httpx client.

    Upstream calls go through httpx's own transport, the one respx patches (the gateway's
    default aiohttp transport is tested on its own, against real loopback servers).
    """
    app = create_app(config, resolver=resolver, http_transport=httpcore_transport)
    async with app.router.lifespan_context(app) as state:

        async def with_state(scope: Any, receive: Any, send: Any) -> None:
            scope["state"] = dict(state or {})
            await app(scope, receive, send)

        transport = httpx.ASGITransport(app=with_state, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            yield client


@pytest.fixture
def upstream() -> Iterator[respx.MockRouter]:
    """respx standing in for every upstream (the in-process ASGI client is not patched)."""
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
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
