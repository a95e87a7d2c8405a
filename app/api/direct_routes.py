"""The image endpoints, called straight from the middleware stack.

A small request spends a measurable share of its CPU in the layers FastAPI and Starlette put
between the middleware and an endpoint: the exception middleware, FastAPI's exit-stack
middleware, matching the path against every route, the per-route request/response wrapper and
its (empty) dependency solving; and each layer is resumed again at every ``await`` of the
request. The image endpoints take only the ``Request`` and resolve everything else themselves
(``app.api.endpoints.images``), so none of that does anything for them.

:class:`DirectRoutes` is the innermost middleware: a request whose method and path match an
image endpoint exactly is answered by calling the endpoint; everything else (other paths, a
trailing slash, an app mounted under a root path) goes through FastAPI as before. Errors are
rendered by the same handlers FastAPI uses (``exception_handlers.handler_for``), with the same
rule: an error after the response started is not rendered again but raised to the outermost
middleware, which logs it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.exception_handlers import handler_for

Endpoint = Callable[[Request], Awaitable[Response]]


def direct_table(routes: Iterable[BaseRoute]) -> dict[tuple[str, str], Endpoint]:
    """(method, path) -> endpoint for every plain route of ``routes`` (no path parameters)."""
    table: dict[tuple[str, str], Endpoint] = {}
    for route in routes:
        if isinstance(route, Route) and route.methods and "{" not in route.path:
            for method in route.methods:
                table[(method, route.path)] = route.endpoint
    return table


class DirectRoutes:
    def __init__(self, app: ASGIApp, routes: Mapping[tuple[str, str], Endpoint]) -> None:
        self.app = app
        self._routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = (
            self._routes.get((scope["method"], scope["path"]))
            if scope["type"] == "http" and not scope.get("root_path")
            else None
        )
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        started = False

        async def sender(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        request = Request(scope, receive, send)
        try:
            response = await endpoint(request)
            await response(scope, receive, sender)
        except Exception as exc:
            handler = handler_for(exc)
            if handler is None or started:
                raise
            response = await handler(request, exc)
            await response(scope, receive, sender)
