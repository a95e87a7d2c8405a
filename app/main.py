"""The FastAPI app: lifespan (services from ``app.wiring``), error handlers, routers, middleware."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager, nullcontext
from typing import TYPE_CHECKING

import httpx
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from app import __version__
from app.api import build_router, exception_handlers
from app.api.cors import add_cors
from app.api.direct_routes import DirectRoutes, direct_table
from app.api.endpoints import images
from app.api.in_flight import InFlight
from app.api.middleware import RequestContext
from app.api.state import State
from app.api.tracing_middleware import TraceRequests
from app.carriers import CARRIER_OPTIONS
from app.carriers.http import TransportFactory, UpstreamClient, default_transport
from app.config import GatewayConfig, load_config
from app.config.settings import (
    Settings,
    admin_keys,
    database_url,
    environment,
    with_redis_url,
)
from app.db.engine import create_engine
from app.db.migrate import upgrade
from app.inputs.fetch import Resolver
from app.observability import multiproc, tracing
from app.observability.json_logs import formatter
from app.observability.logs import configure_logging
from app.observability.metrics import Metrics
from app.observability.redact import redacted_logs
from app.run.shutdown import stop_signals
from app.run.tasks import TaskRegistry
from app.wiring import build_services, configured_secrets

if TYPE_CHECKING:  # the database layer is loaded only when there is a database
    from sqlalchemy.ext.asyncio import AsyncEngine


def create_app(
    config: GatewayConfig,
    *,
    settings: Settings | None = None,
    resolver: Resolver | None = None,
    http_transport: TransportFactory = default_transport,
    stop_on_signals: bool = False,
    database: AsyncEngine | None = None,
) -> FastAPI:
    """The app; ``settings`` (the environment's) may override the database and add an admin
    key; ``resolver`` replaces DNS for fetching image URLs and ``http_transport`` builds the
    upstream transport (tests pass ones that respx or fakes control). ``stop_on_signals``:
    under a server, SIGTERM starts the requests' grace period. ``database``: an engine the
    caller owns and has migrated (tests, the bench); by default the app opens its own."""
    config = with_redis_url(settings, config)  # IMAGEGATE_REDIS_URL
    on = config.metrics
    metrics = Metrics(CollectorRegistry(), label_keys=on.label_keys) if on.enabled else None
    traced = tracing.is_on() or tracing.wanted(config.tracing.enabled, environment())
    provider = None if tracing.is_on() or not traced else tracing.enable()  # ours to flush

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[State]:
        async with AsyncExitStack() as stack:
            engine = database
            if engine is None:
                url = database_url(settings, config)
                await upgrade(url)  # several processes starting at once: one migrates
                engine = create_engine(url, pool_size=config.database.pool_size)
                stack.push_async_callback(engine.dispose)
            limits = httpx.Limits(max_connections=1000, max_keepalive_connections=200)
            tasks = TaskRegistry()
            transport = http_transport(limits)
            client = UpstreamClient(transport=transport, limits=limits, follow_redirects=False)
            stack.enter_context(redacted_logs(configured_secrets(config)))
            http = await stack.enter_async_context(client)
            admins = admin_keys(settings, config)
            services = build_services(
                config, http, tasks, engine, resolver, admin_keys=admins, metrics=metrics
            )
            if services.hot_state is not None:  # closed last: settlement gives slots back
                stack.push_async_callback(services.hot_state.close)
            await stack.enter_async_context(services.jobs.leases())  # never others' live jobs
            await services.admission.release_stale(services.catalog)  # a crash's holds
            services.ledger.start()
            services.sweeper.start()  # retention: one replica at a time (a database lease)
            signals = stop_signals(services.stopping.begin) if stop_on_signals else nullcontext()
            try:
                with signals:
                    yield {"services": services}
                await tasks.drain(config.server.shutdown_grace)
            finally:  # after the work: its usage rows and budget charges too
                await services.sweeper.close()
                await services.settlement.close()
                await services.ledger.close()
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
        # FastAPI's own OpenTelemetry bridge would ask the global providers (three environment
        # lookups) on every request and, with tracing on, double our spans: the request spans
        # are app.api.tracing_middleware's.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    exception_handlers.install(app)
    app.include_router(build_router())
    app.add_middleware(DirectRoutes, routes=direct_table(images.router.routes))  # innermost
    if traced:
        app.add_middleware(TraceRequests)
    if metrics is not None:
        app.add_middleware(InFlight, gauge=metrics.in_flight, responses=metrics.responses)
    app.add_middleware(RequestContext)
    if config.server.cors_origins:
        add_cors(app, config.server.cors_origins)  # outermost: errors carry CORS headers too
    return app


def app_from_environment() -> FastAPI:
    """Factory for uvicorn workers: the config path and log level come from the environment
    (``IMAGEGATE_CONFIG``, ``IMAGEGATE_LOG_LEVEL``). Each worker process configures its own
    logging here, so ``--workers N`` logs like a single process."""
    settings = Settings()
    configure_logging(settings.log_level, formatter(settings.log_format or "text"))
    config = load_config(settings.config, environment(), CARRIER_OPTIONS)
    configure_logging(settings.log_level, formatter(settings.log_format or config.logging.format))
    return create_app(config, settings=settings, stop_on_signals=True)
