"""The FastAPI app: lifespan (services from ``app.wiring``), error handlers, routers, middleware."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from app import __version__
from app.api import build_router, exception_handlers
from app.api.in_flight import InFlight
from app.api.middleware import RequestContext
from app.api.state import State
from app.api.tracing_middleware import TraceRequests
from app.carriers import CARRIER_OPTIONS
from app.carriers.http import TransportFactory, UpstreamClient, default_transport
from app.config import GatewayConfig, load_config
from app.config.settings import Settings, environment
from app.inputs.fetch import Resolver
from app.observability import multiproc, tracing
from app.observability.json_logs import formatter
from app.observability.logs import configure_logging
from app.observability.metrics import Metrics
from app.run.tasks import TaskRegistry
from app.state.sqlite_jobs import SqliteJobStore
from app.wiring import build_services


def create_app(
    config: GatewayConfig,
    *,
    resolver: Resolver | None = None,
    http_transport: TransportFactory = default_transport,
) -> FastAPI:
    """The app; ``resolver`` replaces DNS for fetching image URLs and ``http_transport``
    builds the upstream transport (tests pass ones that respx or fakes control)."""
    on = config.metrics
    metrics = Metrics(CollectorRegistry(), label_keys=on.label_keys) if on.enabled else None
    traced = tracing.is_on() or tracing.wanted(config.tracing.enabled, environment())
    provider = None if tracing.is_on() or not traced else tracing.enable()  # ours to flush

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[State]:
        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=200)
        tasks = TaskRegistry()
        jobs = SqliteJobStore(Path(config.jobs.database))
        transport = http_transport(limits)
        client = UpstreamClient(transport=transport, limits=limits, follow_redirects=False)
        async with client as http:
            services = build_services(config, http, tasks, jobs, resolver, metrics)
            await services.jobs.recover()
            yield {"services": services}
            await tasks.drain(config.server.shutdown_grace)
        await jobs.close()
        multiproc.worker_exit()
        if provider is not None:
            provider.shutdown()

    app = FastAPI(
        title="Imagegate",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    exception_handlers.install(app)
    app.include_router(build_router())
    if traced:
        app.add_middleware(TraceRequests)
    if metrics is not None:
        app.add_middleware(InFlight, gauge=metrics.in_flight, responses=metrics.responses)
    app.add_middleware(RequestContext)
    return app


def app_from_environment() -> FastAPI:
    """Factory for uvicorn workers: the config path and log level come from the environment
    (``IMAGEGATE_CONFIG``, ``IMAGEGATE_LOG_LEVEL``). Each worker process configures its own
    logging here, so ``--workers N`` logs like a single process."""
    settings = Settings()
    configure_logging(settings.log_level, formatter(settings.log_format or "text"))
    config = load_config(settings.config, environment(), CARRIER_OPTIONS)
    configure_logging(settings.log_level, formatter(settings.log_format or config.logging.format))
    return create_app(config)
