"""OpenAICarrier reading big b64_json answers: decoded bytes for URL clients, the text else."""

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
from app.config import CarrierConfig
from app.core.failures import CarrierFailure
from app.domain import ImageJob
from tests.support.rules import RULES

URL = "http://upstream.test/v1"
PNG = b"\x89PNG\r\n\x1a\n" + random.Random(3).randbytes(300_000)
B64 = base64.b64encode(PNG).decode()


@pytest.fixture
async def carrier() -> AsyncIterator[OpenAICarrier]:
    config = CarrierConfig(name="up", kind="openai", base_url=URL, api_key="sk-x")
    async with httpx.AsyncClient() as http:
        yield OpenAICarrier(config, CarrierTools(http=http))


def job(response_format: str) -> ImageJob:
    return ImageJob(
        operation="generate",
        model="gpt-image-2",
        rules=RULES["gpt-image-2"],
        prompt="fox",
        response_format=response_format,  # type: ignore[arg-type]
    )


def answer(*items: dict[str, object], pretty: bool = False) -> httpx.Response:
    option = orjson.OPT_INDENT_2 if pretty else 0
    body = orjson.dumps({"created": 1, "data": list(items)}, option=option)
    return httpx.Response(200, content=body)


@pytest.mark.parametrize("pretty", [False, True])
async def test_url_clients_get_decoded_bytes(carrier: OpenAICarrier, pretty: bool) -> None:
    with respx.mock(assert_all_called=True) as upstream:
        upstream.post(f"{URL}/images/generations").mock(
            return_value=answer({"b64_json": B64, "revised_prompt": "a fox"}, pretty=pretty)
        )
        result = await carrier.run(job("url"), "gpt-image-2")
    (image,) = result.images
    assert image.data == PNG
    assert image.b64 is None
    assert image.revised_prompt == "a fox"


@pytest.mark.parametrize("response_format", ["b64_json", "b64_ephemeral"])
async def test_base64_clients_get_the_text_unchanged(
    carrier: OpenAICarrier, response_format: str
) -> None:
    with respx.mock() as upstream:
        upstream.post(f"{URL}/images/generations").mock(return_value=answer({"b64_json": B64}))
        result = await carrier.run(job(response_format), "gpt-image-2")
    assert result.images[0].b64 == B64
    assert result.images[0].data is None


@pytest.mark.parametrize(
    "text",
    [
        B64.rstrip("="),  # unpadded
        B64[:1000] + "\n" + B64[1000:],  # a line break (escaped in JSON)
        B64[:1000] + "*" + B64[1000:],  # a stray character the lenient decoder skips
    ],
)
async def test_unusual_base64_takes_the_lenient_path(carrier: OpenAICarrier, text: str) -> None:
    with respx.mock() as upstream:
        upstream.post(f"{URL}/images/generations").mock(return_value=answer({"b64_json": text}))
        result = await carrier.run(job("url"), "gpt-image-2")
    assert result.images[0].b64 == text  # re-hosting decodes it exactly as before


async def test_several_images_in_order(carrier: OpenAICarrier) -> None:
    other = base64.b64encode(PNG[::-1]).decode()
    with respx.mock() as upstream:
        upstream.post(f"{URL}/images/generations").mock(
            return_value=answer({"b64_json": B64}, {"b64_json": other})
        )
        result = await carrier.run(job("url"), "gpt-image-2")
    assert [i.data for i in result.images] == [PNG, PNG[::-1]]


@pytest.mark.parametrize(
    "content",
    [
        b'{"created": 1, "data": [{"b64_json": "' + B64.encode() + b'"}',  # truncated
        b'{"created": 1, "data": [{"b64_json": ""}]}',
        b'{"created": 1, "data": [{"b64_json": "' + B64.encode() + b'\xff"}]}',  # not UTF-8
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
            await carrier.run(job("url"), "gpt-image-2")
    assert caught.value.kind == "transient"


async def test_escaped_slashes_are_unescaped_before_decoding(carrier: OpenAICarrier) -> None:
    escaped = B64.replace("/", "\\/")  # legal JSON, what some encoders (PHP) send
    content = b'{"created": 1, "data": [{"b64_json": "' + escaped.encode() + b'"}]}'
    with respx.mock() as upstream:
        upstream.post(f"{URL}/images/generations").mock(
            return_value=httpx.Response(200, content=content)
        )
        result = await carrier.run(job("url"), "gpt-image-2")
    assert result.images[0].b64 == B64
