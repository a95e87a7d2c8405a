"""CORS for browser clients: off unless ``server.cors_origins`` lists origins (or ``*``).

Starlette's ``CORSMiddleware``, installed outermost, so every answer to an allowed origin
carries the CORS headers, errors included (without them a browser hides an error's body from
the page). A preflight from an origin, method or header that is not allowed is a 400 in the
error envelope. Credentials (cookies) are not used: clients send their key in a header.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from app.api.exception_handlers import error_response
from app.errors import InvalidRequest

_METHODS = ["GET", "HEAD", "POST"]
# What a page may read from our answers (the CORS-safelisted ones need no listing).
_EXPOSED = [
    "x-request-id",
    "x-imagegate-carrier",
    "x-imagegate-attempts",
    "x-imagegate-adjustments",
    "x-should-retry",
    "retry-after",
    "retry-after-ms",
    "etag",
    "content-range",
]


class _EnvelopedCORS(CORSMiddleware):
    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        why = bytes(response.body).decode("utf-8", "replace")  # "Disallowed CORS origin, ..."
        refused = error_response(InvalidRequest(f"{why}.", code="cors_not_allowed"))
        for name, value in response.headers.items():
            if name.startswith("access-control-") or name == "vary":
                refused.headers[name] = value
        return refused


def add_cors(app: FastAPI, origins: tuple[str, ...]) -> None:
    """Answer browsers from ``origins``; call after every other middleware (it goes outside)."""
    app.add_middleware(
        _EnvelopedCORS,
        allow_origins=list(origins),
        allow_methods=_METHODS,
        allow_headers=["*"],
        expose_headers=_EXPOSED,
        max_age=600,
    )
