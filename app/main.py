"""Composition root: build the services from a config and wire them into a FastAPI app."""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI

from app import __version__
from app.api import handlers, routes
from app.api.deps import Services, State
from app.api.middleware import RequestContext
from app.carriers import KINDS, REQUIRED_FIELDS, Carrier, CarrierTools, edit_support
from app.catalog import build_catalog
from app.config import GatewayConfig, load_config
from app.execution import Executor
from app.fetch import Resolver, SafeFetcher
from app.health import InMemoryHealth
from app.idempotency import IdempotencyStore
from app.inputs import InputLoader
from app.jobs import JobRunner, JobStore
from app.pipeline import Pipeline
from app.rehost import Rehoster
from app.settings import Settings, environment
from app.storage import make_storage
from app.tasks import TaskRegistry
from app.transport import TransportFactory, UpstreamClient, default_transport

log = logging.getLogger(__name__)


def build_services(
    config: GatewayConfig,
    http: httpx.AsyncClient,
    tasks: TaskRegistry,
    jobs: JobStore,
    resolver: Resolver | None = None,
) -> Services:
    tools = CarrierTools(http=http)
    carriers: dict[str, Carrier] = {}
    for carrier in config.carriers:
        if carrier.api_key is not None and not carrier.has_key:
            log.warning("carrier %s is disabled: its api_key is empty", carrier.name)
            continue
        carriers[carrier.name] = KINDS[carrier.kind].factory(carrier, tools)
    storage = make_storage(config.storage)
    routing = config.routing
    # Carriers' image URLs are fetched as safely as clients' (allow-list included).
    downloads = config.fetch.model_copy(update={"timeout": config.storage.download_timeout})
    health = InMemoryHealth(routing.cooldown)
    pipeline = Pipeline(
        carriers=carriers,
        rehoster=Rehoster(storage, SafeFetcher(downloads, resolver), config.storage),
        health=health,
        retry=routing.retry,
        retries={c.name: c.retries for c in config.carriers},
        timeouts={c.name: c.timeout for c in config.carriers},
        edit_support={c.name: edit_support(c) for c in config.carriers},
        rng=random.Random(routing.seed),
    )
    idempotency = IdempotencyStore(routing.idempotency)
    return Services(
        config=config,
        catalog=build_catalog(config),
        executor=Executor(pipeline, tasks, idempotency, storage),
        health=health,
        enabled=frozenset(carriers),
        jobs=JobRunner(jobs, tasks, config.jobs),
        storage=storage,
        inputs=InputLoader(config, SafeFetcher(config.fetch, resolver)),
        keys=tuple(key.get_secret_value().encode() for key in config.auth.keys),
    )


def create_app(
    config: GatewayConfig,
    *,
    resolver: Resolver | None = None,
    http_transport: TransportFactory = default_transport,
) -> FastAPI:
    """The app; ``resolver`` replaces DNS for fetching image URLs and ``http_transport``
    builds the upstream transport (tests pass ones that respx or fakes control)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[State]:
        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=200)
        tasks = TaskRegistry()
        jobs = JobStore(Path(config.jobs.database))
        transport = http_transport(limits)
        client = UpstreamClient(transport=transport, limits=limits, follow_redirects=False)
        async with client as http:
            services = build_services(config, http, tasks, jobs, resolver)
            await services.jobs.recover()
            yield {"services": services}
            await tasks.drain(config.server.shutdown_grace)
        jobs.close()

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
