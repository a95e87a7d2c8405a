"""The gateway's upstream transport, end to end: the default aiohttp one against a real loopback
upstream, and the httpx one the other tests use under respx."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from aiohttp import web

from app.config import GatewayConfig
from app.main import create_app
from tests.support.config import UPSTREAM, MakeConfig
from tests.support.images import png_bytes

PNG = png_bytes((64, 48))
B64 = base64.b64encode(PNG).decode()


@asynccontextmanager
async def upstream_on_loopback() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []

    async def generations(request: web.Request) -> web.Response:
        seen.append({"auth": request.headers.get("authorization"), **(await request.json())})
        return web.json_response({"created": 1, "data": [{"b64_json": B64}], "size": "64x48"})

    app = web.Application()
    app.router.add_post("/v1/images/generations", generations)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/v1", seen
    finally:
        await runner.cleanup()


@asynccontextmanager
async def gateway(config: GatewayConfig, **kwargs: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(config, **kwargs)
    async with app.router.lifespan_context(app) as state:

        async def with_state(scope: Any, receive: Any, send: Any) -> None:
            scope["state"] = dict(state or {})
            await app(scope, receive, send)

        transport = httpx.ASGITransport(app=with_state)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as c:
            yield c


async def test_default_transport_reaches_a_real_upstream(make_config: MakeConfig) -> None:
    async with upstream_on_loopback() as (base_url, seen):

        def point_at_loopback(data: dict[str, Any]) -> None:
            data["carriers"][0]["base_url"] = base_url

        async with gateway(make_config(point_at_loopback)) as client:
            inline = await client.post(
                "/v1/images/generations",
                json={"model": "gpt-image-2", "prompt": "fox", "response_format": "b64_json"},
            )
            hosted = await client.post(
                "/v1/images/generations", json={"model": "gpt-image-2", "prompt": "fox"}
            )
            assert inline.status_code == 200, inline.text
            assert inline.json()["data"][0]["b64_json"] == B64
            url = hosted.json()["data"][0]["url"]
            image = await client.get(url.removeprefix("http://gateway.test"))
            assert image.content == PNG
    assert seen[0]["model"] == "upstream-gpt-image-2"
    assert seen[0]["auth"].startswith("Bearer sk-test-")


async def test_conftest_client_stays_on_respx(client: httpx.AsyncClient, upstream) -> None:
    route = upstream.post(f"{UPSTREAM}/images/generations").mock(
        return_value=httpx.Response(200, json={"created": 1, "data": [{"b64_json": B64}]})
    )
    response = await client.post(
        "/v1/images/generations", json={"prompt": "fox", "response_format": "b64_json"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"][0]["b64_json"] == B64
    assert route.called
