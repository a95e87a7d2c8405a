"""Pure ASGI middleware counting the HTTP requests being served (a gauge, summed over workers)."""

from __future__ import annotations

from prometheus_client import Gauge
from starlette.types import ASGIApp, Receive, Scope, Send


class InFlight:
    def __init__(self, app: ASGIApp, gauge: Gauge) -> None:
        self.app = app
        self._inc = gauge.inc
        self._dec = gauge.dec

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self._inc()
        try:
            await self.app(scope, receive, send)
        finally:
            self._dec()
