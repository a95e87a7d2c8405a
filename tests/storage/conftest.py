"""Storage tests run against a real S3-protocol server (moto's server mode) on loopback, one
per session, with a fresh bucket per test; apps are built from the test config with
``storage.backend: s3`` pointed at it."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from app.config import GatewayConfig
from app.config.storage import StorageConfig
from app.storage.s3 import S3Storage
from app.storage.signing import Signer
from app.storage.urls import GatewayLinks, UrlPolicy
from tests.support.app import serve_in_process
from tests.support.config import MakeConfig
from tests.support.s3 import ACCESS_KEY, REGION, SECRET_KEY, FaultyProxy, S3Server

S3Settings = Callable[..., dict[str, Any]]


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    server = S3Server()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def s3_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)


@pytest.fixture
def bucket(s3_server: S3Server) -> str:
    name = f"s3-test-{secrets.token_hex(6)}"
    s3_server.create_bucket(name)
    return name


@pytest.fixture
def faulty(s3_server: S3Server) -> Iterator[FaultyProxy]:
    proxy = FaultyProxy(s3_server.endpoint)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def s3_settings(s3_server: S3Server, bucket: str) -> S3Settings:
    """The ``storage`` section for the test bucket, with ``overrides`` on top."""

    def settings(**overrides: Any) -> dict[str, Any]:
        return {
            "backend": "s3",
            "bucket": bucket,
            "endpoint_url": s3_server.endpoint,
            "region": REGION,
            "prefix": "images/",
            "url_mode": "signed",
            "url_ttl": "1h",
            "signing_keys": ["test-signing-key-0123456789"],
            **overrides,
        }

    return settings


@pytest.fixture
def s3_config(make_config: MakeConfig, s3_settings: S3Settings) -> Callable[..., GatewayConfig]:
    def make(**overrides: Any) -> GatewayConfig:
        return make_config(lambda data: data["storage"].update(s3_settings(**overrides)))

    return make


@pytest.fixture
def s3_storage(s3_settings: S3Settings) -> Callable[..., S3Storage]:
    """An S3 backend built directly (no app), with the given ``storage`` overrides."""

    def make(**overrides: Any) -> S3Storage:
        config = StorageConfig(**s3_settings(**overrides))
        policy = UrlPolicy(config.url_mode, config.url_ttl)
        keys = [key.get_secret_value().encode() for key in config.signing_keys]
        return S3Storage(config, GatewayLinks(Signer(keys), policy))

    return make


@asynccontextmanager
async def gateway(config: GatewayConfig) -> AsyncIterator[httpx.AsyncClient]:
    async with serve_in_process(config) as client:
        yield client


async def fetch(url: str) -> httpx.Response:
    """GET ``url`` with a plain HTTP client (no gateway, no credentials), redirects followed."""
    async with httpx.AsyncClient(follow_redirects=True, timeout=10) as plain:
        return await plain.get(url)
