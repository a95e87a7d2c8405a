"""DirectRoutes: the image endpoints answered without FastAPI's routing layers, and every other
request passed on untouched."""

from __future__ import annotations

import httpx
import orjson
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from app.api.direct_routes import DirectRoutes, direct_table
from app.api.endpoints import images
from app.errors import InvalidRequest
from app.main import create_app
from tests.support.config import MakeConfig


class Inner:
    """The app behind the middleware: records what reached it."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.paths.append(scope["path"])
        await Response(b"inner", media_type="text/plain")(scope, receive, send)


async def ok(request: Request) -> Response:
    return Response(b"direct", media_type="text/plain")


async def refuse(request: Request) -> Response:
    raise InvalidRequest("bad size", param="size")


async def breaks_after_start(request: Request) -> Response:
    class Broken(Response):
        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            raise InvalidRequest("too late to render", param="size")

    return Broken()


def client(inner: Inner, root_path: str = "") -> httpx.AsyncClient:
    table = {
        ("POST", "/ok"): ok,
        ("POST", "/refuse"): refuse,
        ("POST", "/late"): breaks_after_start,
    }
    app = DirectRoutes(inner, table)
    transport = httpx.ASGITransport(app=app, root_path=root_path)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def test_a_matching_request_is_answered_by_its_endpoint_alone() -> None:
    inner = Inner()
    async with client(inner) as http:
        response = await http.post("/ok")
    assert response.text == "direct" and inner.paths == []


@pytest.mark.parametrize(("method", "path"), [("GET", "/ok"), ("POST", "/ok/"), ("POST", "/other")])
async def test_anything_else_goes_through_the_app(method: str, path: str) -> None:
    inner = Inner()
    async with client(inner) as http:
        response = await http.request(method, path)
    assert response.text == "inner" and inner.paths == [path]


async def test_an_app_under_a_root_path_is_routed_by_the_app() -> None:
    inner = Inner()
    async with client(inner, root_path="/gateway") as http:
        response = await http.post("/gateway/ok")
    assert response.text == "inner"


async def test_an_error_is_rendered_in_the_envelope_by_the_shared_handlers() -> None:
    async with client(Inner()) as http:
        response = await http.post("/refuse")
    error = orjson.loads(response.content)["error"]
    assert response.status_code == 400
    assert (error["param"], error["message"], error["type"]) == (
        "size",
        "bad size",
        "invalid_request_error",
    )


async def test_an_error_after_the_response_started_is_raised_not_rendered_twice() -> None:
    async with client(Inner()) as http:
        with pytest.raises(InvalidRequest):
            await http.post("/late")


def test_the_table_holds_every_image_endpoint_path_and_method() -> None:
    table = direct_table(images.router.routes)
    assert set(table) == {
        ("POST", "/v1/images/generations"),
        ("POST", "/v1/openai/images/generations"),
        ("POST", "/v1/images/edits"),
        ("POST", "/v1/openai/images/edits"),
    }
    assert table[("POST", "/v1/images/edits")] is images.create_edit


def test_the_gateway_answers_image_requests_from_its_innermost_middleware(
    make_config: MakeConfig,
) -> None:
    app = create_app(make_config())
    innermost = app.user_middleware[-1]
    assert innermost.cls is DirectRoutes  # type: ignore[comparison-overlap]
    assert innermost.kwargs["routes"] == direct_table(images.router.routes)
