"""Pure ASGI middleware: HTTP requests in flight (a gauge, summed over workers) and responses by
endpoint and status class, refusals included (those never reach the record stage).

It wraps every request, so it does little: the gauge's value and each (endpoint, status)
counter child are added to directly (prometheus-client's ``inc`` re-checks per call that the
metric is a child), and ``send`` is wrapped by a plain function that hands back the awaitable
of the real ``send``: no coroutine of its own per message."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

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
        self._add = gauge._value.inc  # the gauge has no labels: its value is its own
        self._responses = responses
        # (endpoint, status) -> the matching child's add; both bounded (ENDPOINTS, 0..999).
        self._counted: dict[tuple[str, int], Callable[[float], None]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = [0]

        def send_status(message: Message) -> Awaitable[None]:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            return send(message)

        add = self._add
        add(1)
        try:
            await self.app(scope, receive, send_status)
        finally:
            add(-1)
            self._count(ENDPOINTS.get(scope["path"], "other"), status[0])

    def _count(self, endpoint: str, status: int) -> None:
        key = (endpoint, status)
        add = self._counted.get(key)
        if add is None:
            hundreds = status // 100
            status_class = f"{hundreds}xx" if hundreds else "none"
            add = self._counted[key] = self._responses.labels(endpoint, status_class)._value.inc
        add(1)
