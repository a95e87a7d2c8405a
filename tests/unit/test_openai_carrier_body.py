"""OpenAICarrier reading big b64_json answers: the raw base64 bytes of the body, whatever the
client asked for; re-hosting decides what to do with them."""

from __future__ import annotations

import base64
import random
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
import respx

from app.carriers.base import CarrierTools
from app.carriers.openai.carrier import OpenAICarrier
from app.carriers.openai.options import OpenAIConfig
from app.core.catalog import Route
from app.core.failures import CarrierFailure
from app.domain import ImageJob, UpstreamImage
from tests.support.rules import RULES

URL = "http://upstream.test/v1"
PNG = b"\x89PNG\r\n\x1a\n" + random.Random(3).randbytes(300_000)
B64 = base64.b64encode(PNG).decode()
ROUTE = Route("up", "gpt-image-2", RULES["gpt-image-2"])


@pytest.fixture
async def carrier() -> AsyncIterator[OpenAICarrier]:
    config = OpenAIConfig(name="up", kind="openai", base_url=URL, api_key="sk-x")
    async with httpx.AsyncClient() as http:
        yield OpenAICarrier(config, CarrierTools(http=http))


def job(response_format: str = "url") -> ImageJob:
    return ImageJob(
        operation="generate",
        model="gpt-image-2",
        prompt="fox",
        response_format=response_format,  # type: ignore[arg-type]
    )


def answer(*items: dict[str, object], pretty: bool = False) -> httpx.Response:
    option = orjson.OPT_INDENT_2 if pretty else 0
    body = orjson.dumps({"created": 1, "data": list(items)}, option=option)
    return httpx.Response(200, content=body)


def text(image: UpstreamImage) -> str | None:
    b64 = image.b64
    return bytes(b64).decode() if isinstance(b64, memoryview) else b64


@pytest.mark.parametrize("pretty", [False, True])
async def test_big_base64_stays_raw_bytes_of_the_body(carrier: OpenAICarrier, pretty: bool) -> None:
    with respx.mock(assert_all_called=True) as upstream:
        upstream.post(f"{URL}/images/generations").mock(
            return_value=answer({"b64_json": B64, "revised_prompt": "a fox"}, pretty=pretty)
        )
        result = await carrier.run(job(), ROUTE)
    (image,) = result.images
    assert isinstance(image.b64, memoryview)  # no multi-MB str built, nothing decoded yet
    assert text(image) == B64
    assert image.data is None
    assert image.revised_prompt == "a fox"


async def test_the_output_does_not_depend_on_the_clients_response_format(
    carrier: OpenAICarrier,
) -> None:
    results = []
    for response_format in ("url", "b64_json", "b64_ephemeral"):
        with respx.mock(assert_all_called=True) as upstream:
            route = upstream.post(f"{URL}/images/generations")
            route.mock(return_value=answer({"b64_json": B64}))
            result = await carrier.run(job(response_format), ROUTE)
        sent = orjson.loads(route.calls.last.request.content)
        results.append((sent, [(type(i.b64), text(i), i.url, i.data) for i in result.images]))
    assert results[0] == results[1] == results[2]
    assert "response_format" not in results[0][0]


@pytest.mark.parametrize(
    "value",
    [
        B64.rstrip("="),  # unpadded
        B64[:1000] + "*" + B64[1000:],  # a stray character the lenient decoder skips
    ],
)
async def test_unusual_base64_is_passed_on_unchanged(carrier: OpenAICarrier, value: str) -> None:
    with respx.mock() as upstream:
        upstream.post(f"{URL}/images/generations").mock(return_value=answer({"b64_json": value}))
        result = await carrier.run(job(), ROUTE)
    assert text(result.images[0]) == value  # re-hosting decodes it exactly as before


async def test_several_images_in_order(carrier: OpenAICarrier) -> None:
    other = base64.b64encode(PNG[::-1]).decode()
    with respx.mock() as upstream:
        upstream.post(f"{URL}/images/generations").mock(
            return_value=answer({"b64_json": B64}, {"b64_json": other})
        )
        result = await carrier.run(job(), ROUTE)
    assert [text(i) for i in result.images] == [B64, other]


@pytest.mark.parametrize(
    "content",
    [
        b'{"created": 1, "data": [{"b64_json": "' + B64.encode() + b'"}',  # truncated
        b'{"created": 1, "data": [{"b64_json": ""}]}',
        b'{"created": 1, "\xff": 0, "data": [{"b64_json": "' + B64.encode() + b'"}]}',  # not UTF-8
    ],
)
async def test_unreadable_answers_are_transient_failures(
    carrier: OpenAICarrier, content: bytes
) -> None:
    with respx.mock() as upstream:
        upstream.post(f"{URL}/images/generations").mock(
            return_value=httpx.Response(200, content=content)
        )
        with pytest.raises(CarrierFailure) as caught:
            await carrier.run(job(), ROUTE)
    assert caught.value.kind == "transient"


async def test_escaped_slashes_are_unescaped(carrier: OpenAICarrier) -> None:
    escaped = B64.replace("/", "\\/")  # legal JSON, what some encoders (PHP) send
    content = b'{"created": 1, "data": [{"b64_json": "' + escaped.encode() + b'"}]}'
    with respx.mock() as upstream:
        upstream.post(f"{URL}/images/generations").mock(
            return_value=httpx.Response(200, content=content)
        )
        result = await carrier.run(job(), ROUTE)
    assert result.images[0].b64 == B64
