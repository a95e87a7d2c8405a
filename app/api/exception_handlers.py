"""The only place errors become HTTP responses, always in the OpenAI error envelope
(rendered by ``app.errors.error_body`` and ``error_headers``)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from app.errors import (
    GatewayError,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    error_body,
    error_headers,
)

log = logging.getLogger(__name__)


def error_response(error: GatewayError) -> Response:
    return Response(
        error_body(error),
        status_code=error.status,
        headers=error_headers(error),
        media_type="application/json",
    )


async def _gateway_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    return error_response(exc)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    loc = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")]
    message = first.get("msg", "Invalid request.")
    return error_response(InvalidRequest(str(message), param=".".join(loc) or None))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(NotFound(f"No route for {request.method} {request.url.path}."))
    if exc.status_code == 405:
        return _method_not_allowed(request, (exc.headers or {}).get("Allow", ""))
    error = GatewayError(str(exc.detail), code=None, type="invalid_request_error")
    error.status = exc.status_code
    error.should_retry = False if exc.status_code < 500 else None
    response = error_response(error)
    response.headers.update(exc.headers or {})
    return response


def _method_not_allowed(request: Request, allowed: str) -> Response:
    error = MethodNotAllowed(
        f"{request.method} is not allowed on {request.url.path}; use {allowed or 'another'}."
    )
    error.headers["allow"] = allowed
    return error_response(error)


async def _client_left(request: Request, exc: Exception) -> Response:
    """The client closed its connection before its body was read: nothing to answer, and
    nothing wrong with the gateway. 499 (nginx's "client closed request") for the access log."""
    log.info("the client left before sending its whole request body")
    return Response(status_code=499)


Handler = Callable[[Request, Exception], Awaitable[Response]]
HANDLERS: dict[type[Exception], Handler] = {
    GatewayError: _gateway_error,
    RequestValidationError: _validation_error,
    HTTPException: _http_error,
    ClientDisconnect: _client_left,
}


def install(app: FastAPI) -> None:
    for kind, handler in HANDLERS.items():
        app.add_exception_handler(kind, handler)


def handler_for(exc: Exception) -> Handler | None:
    """The handler of ``exc``'s nearest class that has one (as Starlette looks it up)."""
    for kind in type(exc).__mro__:
        handler = HANDLERS.get(kind)
        if handler is not None:
            return handler
    return None
