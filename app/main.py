"""Composition root: build the services from a config and wire them into a FastAPI app."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from app import __version__
from app.api import handlers, routes
from app.api.deps import Services, State
from app.api.middleware import RequestContext
from app.carriers import KINDS, REQUIRED_FIELDS, Carrier, CarrierTools
from app.catalog import build_catalog
from app.config import GatewayConfig, load_config
from app.pipeline import Pipeline
from app.rehost import Rehoster
from app.settings import Settings, environment
from app.storage import make_storage
from app.transport import TransportFactory, UpstreamClient, default_transport

log = logging.getLogger(__name__)


def build_services(config: GatewayConfig, http: httpx.AsyncClient) -> Services:
    tools = CarrierTools(http=http)
    carriers: dict[str, Carrier] = {}
    for carrier in config.carriers:
        if carrier.api_key is not None and not carrier.has_key:
            log.warning("carrier %s is disabled: its api_key is empty", carrier.name)
            continue
        carriers[carrier.name] = KINDS[carrier.kind].factory(carrier, tools)
    storage = make_storage(config.storage)
    return Services(
        config=config,
        catalog=build_catalog(config),
        pipeline=Pipeline(carriers, Rehoster(storage, http, config.storage)),
        storage=storage,
        keys=tuple(key.get_secret_value().encode() for key in config.auth.keys),
    )


def create_app(
    config: GatewayConfig, *, http_transport: TransportFactory = default_transport
) -> FastAPI:
    """The app; ``http_transport`` builds the upstream transport (tests pass one respx mocks)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[State]:
        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=200)
        transport = http_transport(limits)
        client = UpstreamClient(transport=transport, limits=limits, follow_redirects=False)
        async with client as http:
            yield {"services": build_services(config, http)}

    app = FastAPI(
        title="Imagegate",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    handlers.install(app)
    app.include_router(routes.router)
    app.add_middleware(RequestContext)
    return app


def app_from_environment() -> FastAPI:
    """Factory for uvicorn workers: the config path comes from ``IMAGEGATE_CONFIG``."""
    settings = Settings()
    return create_app(load_config(settings.config, environment(), REQUIRED_FIELDS))
