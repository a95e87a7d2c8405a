"""The only place errors become HTTP responses, always in the OpenAI error envelope."""

from __future__ import annotations

import logging
import math

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from app.errors import GatewayError, InvalidRequest, NotFound

log = logging.getLogger(__name__)


def error_response(error: GatewayError) -> Response:
    headers = dict(error.headers)
    if error.should_retry is not None:
        headers["x-should-retry"] = "true" if error.should_retry else "false"
    if error.retry_after is not None:
        headers["retry-after"] = str(max(1, math.ceil(error.retry_after)))
        headers["retry-after-ms"] = str(int(error.retry_after * 1000))
    return Response(
        orjson.dumps(error.envelope()),
        status_code=error.status,
        headers=headers,
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
    error = GatewayError(str(exc.detail), code=None, type="invalid_request_error")
    error.status = exc.status_code
    error.should_retry = False if exc.status_code < 500 else None
    response = error_response(error)
    response.headers.update(exc.headers or {})
    return response


def install(app: FastAPI) -> None:
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
