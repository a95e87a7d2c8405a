"""Outermost ASGI middleware: request ids, one access-log line, and the last-resort 500.

Anything that escapes the app becomes an OpenAI-style 500 here, after being logged with its
request id; no stack trace ever reaches a client.
"""

from __future__ import annotations

import logging
import re
import time
from random import getrandbits  # the module's generator: re-seeded in a forked child

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.exception_handlers import error_response
from app.errors import GatewayError
from app.observability.logs import request_id_var
from app.usage.meter import Meter

log = logging.getLogger("imagegate.access")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        token = request_id_var.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error in request %s", request_id)
            if status == 0:
                status = 500
                response = error_response(GatewayError("The gateway hit an internal error."))
                await response(scope, receive, send_with_id)
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            log.info(
                "%s %s %d %.1fms carrier=%s",
                scope["method"],
                scope["path"],
                status,
                elapsed,
                _carrier(scope),
            )
            request_id_var.reset(token)


def _carrier(scope: Scope) -> str:
    """The carrier that served the request, from its usage meter (set by ``api.delivery``)."""
    meter = scope["state"].get("usage_meter")
    if not isinstance(meter, Meter) or meter.record is None or meter.record.carrier is None:
        return "-"
    return meter.record.carrier


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate: str = value.decode("latin-1")
            if _CLIENT_ID.match(candidate):
                return candidate
    return f"req_{getrandbits(128):032x}"  # as unique as uuid4, without its system call
