"""Pure ASGI middleware: HTTP requests in flight (a gauge, summed over workers) and responses by
endpoint and status class, refusals included (those never reach the record stage)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The paths worth a label of their own; every other path is counted as ``other``.
ENDPOINTS = {
    "/v1/images/generations": "generations",
    "/v1/openai/images/generations": "generations",
    "/v1/images/edits": "edits",
    "/v1/openai/images/edits": "edits",
    "/metrics": "metrics",
    "/healthz": "health",
    "/readyz": "health",
}


class InFlight:
    def __init__(self, app: ASGIApp, gauge: Gauge, responses: Counter) -> None:
        self.app = app
        self._inc = gauge.inc
        self._dec = gauge.dec
        self._responses = responses
        self._children: dict[tuple[str, int], Counter] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self._inc()
        try:
            await self.app(scope, receive, send_status)
        finally:
            self._dec()
            self._count(ENDPOINTS.get(scope["path"], "other"), status // 100)

    def _count(self, endpoint: str, hundreds: int) -> None:
        key = (endpoint, hundreds)
        child = self._children.get(key)
        if child is None:
            status_class = f"{hundreds}xx" if hundreds else "none"
            child = self._children[key] = self._responses.labels(endpoint, status_class)
        child.inc()
