"""Pure ASGI middleware opening each request's span; added only while tracing is on."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.observability import tracing
from app.observability.logs import request_id_var


class TraceRequests:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with tracing.request_span(scope["method"], scope["path"]) as span:
            span.set_attribute("imagegate.request_id", request_id_var.get())

            async def send_status(message: Message) -> None:
                if message["type"] == "http.response.start":
                    span.set_attribute("http.response.status_code", message["status"])
                await send(message)

            await self.app(scope, receive, send_status)
