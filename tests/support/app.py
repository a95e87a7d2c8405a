"""The app driven in process: its lifespan running, behind an httpx client on an ASGI transport."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx

from app.carriers.http import TransportFactory, httpcore_transport
from app.config import GatewayConfig
from app.inputs.fetch import Resolver
from app.main import create_app

ASGIApp = Any


def with_lifespan_state(app: ASGIApp, state: Mapping[str, Any] | None) -> ASGIApp:
    """``httpx.ASGITransport`` runs no lifespan, so hand each request the lifespan's state, as a
    server would (``request.state`` reads it from ``scope["state"]``)."""

    async def with_state(scope: Any, receive: Any, send: Any) -> None:
        scope["state"] = dict(state or {})
        await app(scope, receive, send)

    return with_state


@asynccontextmanager
async def serve_in_process(
    config: GatewayConfig,
    resolver: Resolver | None = None,
    *,
    http_transport: TransportFactory = httpcore_transport,
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running, behind an in-process httpx client.

    By default upstream calls go through httpx's own transport, the one respx patches; pass
    ``http_transport=default_transport`` to use the gateway's aiohttp one against a real socket.
    """
    app = create_app(config, resolver=resolver, http_transport=http_transport)
    async with app.router.lifespan_context(app) as state:
        transport = httpx.ASGITransport(
            app=with_lifespan_state(app, state), raise_app_exceptions=False
        )
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            yield client
