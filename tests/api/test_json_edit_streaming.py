"""JSON edits stream in: long data URIs are decoded into the spool on the way, and the bytes of
JSON edits in flight are capped (503 with retry-after beyond the cap)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
import respx

from tests.support.app import serve_in_process
from tests.support.config import MakeConfig
from tests.support.images import png_bytes
from tests.support.memory import padded_png

BIG = padded_png(150_000)  # a 64 x 64 PNG whose data URI is 200 KB: past the inline limit


def uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def edit_body(**fields: object) -> bytes:
    return orjson.dumps({"model": "offline", "prompt": "a hat", "size": "1024x1024", **fields})


@pytest.fixture
async def client(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> AsyncIterator[httpx.AsyncClient]:
    async with serve_in_process(make_config()) as c:
        yield c


async def post(
    client: httpx.AsyncClient, body: bytes | AsyncIterator[bytes], **headers: str
) -> httpx.Response:
    return await client.post(
        "/v1/images/edits", content=body, headers={"content-type": "application/json", **headers}
    )


async def test_long_data_uris_are_served_like_short_ones(client: httpx.AsyncClient) -> None:
    no_alpha = padded_png(100_000)
    body = edit_body(images=[{"image_url": uri(BIG)}], mask={"image_url": uri(no_alpha)})
    response = await post(client, body)
    assert response.status_code == 400  # a mask without alpha: spooled inputs are checked too
    assert response.json()["error"]["param"] == "mask"
    response = await post(client, edit_body(images=[{"image_url": uri(BIG)}]))
    assert response.status_code == 200, response.text
    assert response.headers["x-imagegate-carrier"] == "local"


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ("data:image/png;base64," + "A" * 70_000 + "*", "not valid base64"),
        ("data:image/png," + "A" * 70_000, "only base64 data URIs"),
        (uri(b"not an image" * 10_000), "not a PNG, JPEG or WebP"),
    ],
)
async def test_a_bad_long_data_uri_is_a_400_naming_its_image(
    client: httpx.AsyncClient, image: str, message: str
) -> None:
    response = await post(client, edit_body(images=[{"image_url": uri(png_bytes())}, image]))
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "images[1]"
    assert message in response.json()["error"]["message"]


async def test_a_long_data_string_anywhere_else_is_refused(client: httpx.AsyncClient) -> None:
    response = await post(client, edit_body(image=uri(png_bytes()), user="data:" + "x" * 70_000))
    assert response.status_code == 400
    assert "only accepted as an image or a mask" in response.json()["error"]["message"]


async def test_text_outside_data_uris_is_capped_as_it_streams(client: httpx.AsyncClient) -> None:
    response = await post(client, edit_body(image=uri(BIG), prompt="x" * 3_000_000))
    assert response.status_code == 413, response.text
    assert "outside its data URIs" in response.json()["error"]["message"]


async def test_json_edits_in_flight_are_capped(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> None:
    body = edit_body(image=uri(BIG))
    reading, release = asyncio.Event(), asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield body[:1000]
        reading.set()  # the gateway asks for more: this body is admitted and counted
        await release.wait()
        yield body[1000:]

    config = make_config(server={"default_model": "gpt-image-2",
                                 "max_json_edits_in_flight_bytes": len(body) + len(body) // 2})  # fmt: skip
    async with serve_in_process(config) as client:
        first = asyncio.ensure_future(post(client, slow(), **{"content-length": str(len(body))}))
        await asyncio.wait_for(reading.wait(), 10)
        refused = await post(client, body)
        chunked = await post(client, (piece async for piece in _pieces(body)))
        release.set()
        assert (await first).status_code == 200
        again = await post(client, body)
    assert refused.status_code == 503
    error = refused.json()["error"]
    assert (error["type"], error["code"]) == ("server_error", "overloaded")
    assert refused.headers["retry-after"] == "2"
    assert chunked.status_code == 503  # no Content-Length: counted as it arrives
    assert again.status_code == 200, again.text


async def _pieces(body: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(body), 65536):
        yield body[start : start + 65536]
