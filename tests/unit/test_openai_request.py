"""The openai carrier builds its generation requests itself (not through httpx's
``build_request``): what goes upstream must be what httpx would have sent, the client's default
headers and the configured ones included, with this request's id and timeouts."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import orjson
import pytest

from app.carriers.base import CarrierTools
from app.carriers.openai.carrier import OpenAICarrier
from app.carriers.openai.options import OpenAIConfig
from app.carriers.openai.wire import upstream_params
from app.core.catalog import Route
from app.domain import CarrierResult, ImageJob, PartialImage
from app.observability.logs import request_id_var
from tests.support.rules import RULES

URL = "http://upstream.test/v1"
ROUTE = Route("up", "gpt-image-2", RULES["gpt-image-2"])
JOB = ImageJob(operation="generate", model="gpt-image-2", prompt="fox", size="1024x1024")
ANSWER = orjson.dumps({"created": 1, "data": [{"url": "https://cdn.test/a.png"}]})
CONFIGURED = {"X-Team": "blue", "User-Agent": "team-proxy/1", "Host": "vhost.test"}


def _headers(request: httpx.Request) -> list[tuple[bytes, bytes]]:
    return sorted((key.lower(), value) for key, value in request.headers.raw)


async def _sent(headers: dict[str, str], *, stream: bool) -> tuple[httpx.Request, httpx.Request]:
    """What the carrier sent, and what httpx's ``build_request`` makes of the same inputs."""
    sent: list[httpx.Request] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, content=ANSWER)

    config = OpenAIConfig(
        name="up", kind="openai", base_url=URL, api_key="sk-x", timeout=42, headers=headers
    )
    token = request_id_var.set("req-42")
    try:
        async with httpx.AsyncClient(transport=httpx.MockTransport(upstream)) as http:
            carrier = OpenAICarrier(config, CarrierTools(http=http))
            if stream:
                events: AsyncIterator[PartialImage | CarrierResult] = carrier.stream(JOB, ROUTE)
                results = [event async for event in events]
            else:
                results = [await carrier.run(JOB, ROUTE)]
            expected = http.build_request(
                "POST",
                URL + "/images/generations",
                content=orjson.dumps(upstream_params(JOB, ROUTE, stream=stream)),
                headers={
                    **headers,
                    "authorization": "Bearer sk-x",
                    "content-type": "application/json",
                    "x-request-id": "req-42",
                },
                timeout=httpx.Timeout(42, connect=10.0),
            )
    finally:
        request_id_var.reset(token)
    assert [type(result) for result in results] == [CarrierResult]
    (request,) = sent
    return request, expected


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("headers", [{}, CONFIGURED], ids=["plain", "configured"])
async def test_the_request_is_what_httpx_would_have_built(
    headers: dict[str, str], stream: bool
) -> None:
    request, expected = await _sent(headers, stream=stream)
    assert (request.method, request.url) == (expected.method, expected.url)
    assert request.content == expected.content
    assert _headers(request) == _headers(expected)
    assert request.headers["x-request-id"] == "req-42"
    assert request.extensions["timeout"] == expected.extensions["timeout"]


async def test_a_configured_request_id_gives_way_to_the_requests_own() -> None:
    request, _ = await _sent({"X-Request-Id": "fixed"}, stream=False)
    assert request.headers.get_list("x-request-id") == ["req-42"]
