"""The gateway's upstream transport, end to end: the default aiohttp one against a real loopback
upstream, and the httpx one the other tests use under respx."""

from __future__ import annotations

import base64
from typing import Any

import httpx

from app.carriers.http import default_transport
from tests.support.app import serve_in_process
from tests.support.config import UPSTREAM, MakeConfig
from tests.support.images import png_bytes
from tests.support.upstream import FakeUpstream, json_reply

PNG = png_bytes((64, 48))
B64 = base64.b64encode(PNG).decode()


async def test_default_transport_reaches_a_real_upstream(
    make_config: MakeConfig, fake: FakeUpstream
) -> None:
    fake.route(
        "/v1/images/generations",
        json_reply({"created": 1, "data": [{"b64_json": B64}], "size": "64x48"}),
        method="POST",
    )

    def point_at_loopback(data: dict[str, Any]) -> None:
        data["carriers"][0]["base_url"] = fake.base_url

    config = make_config(point_at_loopback)
    async with serve_in_process(config, http_transport=default_transport) as client:
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
    sent = fake.requests
    assert len(sent) == 2
    assert sent[0].json()["model"] == "upstream-gpt-image-2"
    assert sent[0].headers["authorization"].startswith("Bearer sk-test-")


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
