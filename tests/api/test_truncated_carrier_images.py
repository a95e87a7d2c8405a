"""A truncated or corrupt image from a carrier is a transient carrier failure: retried, then the
next carrier; never stored, served or answered with 200, in any response format."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest
import respx

from tests.support.app import serve_in_process
from tests.support.config import UPSTREAM, MakeConfig
from tests.support.images import png_bytes
from tests.support.routing import OK, A, B, two_carriers

GENERATIONS = f"{UPSTREAM}/images/generations"
GOOD = png_bytes((40, 40), (10, 120, 200))


def corrupt(data: bytes) -> bytes:
    damaged = bytearray(data)
    damaged[len(damaged) // 2] ^= 0xFF
    return bytes(damaged)


def reply(data: bytes) -> httpx.Response:
    return httpx.Response(
        200, json={"created": 1, "data": [{"b64_json": base64.b64encode(data).decode()}]}
    )


BROKEN = {"truncated": GOOD[: len(GOOD) * 2 // 3], "corrupt": corrupt(GOOD), "no-end": GOOD[:-12]}


def stored(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


@pytest.mark.parametrize("broken", BROKEN)
@pytest.mark.parametrize("response_format", ["url", "b64_json", "b64_ephemeral"])
async def test_a_broken_image_is_retried_and_never_answered(
    make_config: MakeConfig, upstream: respx.MockRouter, broken: str, response_format: str
) -> None:
    route = upstream.post(GENERATIONS).mock(side_effect=[reply(BROKEN[broken]), reply(GOOD)])
    config = make_config()
    async with serve_in_process(config) as client:
        response = await client.post(
            "/v1/images/generations", json={"prompt": "x", "response_format": response_format}
        )
    assert response.status_code == 200, response.text
    assert route.call_count == 2
    assert response.headers["x-imagegate-attempts"] == "up:transient,up:200"
    [item] = response.json()["data"]
    if response_format == "url":
        [path] = stored(config.storage.directory)
        assert path.read_bytes() == GOOD
    else:
        assert base64.b64decode(item["b64_json"]) == GOOD
        assert len(stored(config.storage.directory)) == (response_format == "b64_json")


async def test_only_broken_images_fail_the_request_and_store_nothing(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> None:
    upstream.post(GENERATIONS).mock(return_value=reply(BROKEN["truncated"]))
    config = make_config()
    async with serve_in_process(config) as client:
        response = await client.post("/v1/images/generations", json={"prompt": "x"})
    assert response.status_code == 502
    assert "truncated" in response.json()["error"]["message"]
    assert stored(config.storage.directory) == []


async def test_a_broken_image_falls_back_to_the_next_carrier(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> None:
    upstream.post(A).mock(return_value=reply(BROKEN["corrupt"]))
    upstream.post(B).mock(return_value=OK)
    async with serve_in_process(make_config(two_carriers())) as client:
        response = await client.post("/v1/images/generations", json={"prompt": "x"})
    assert response.status_code == 200
    assert response.headers["x-imagegate-attempts"] == "a:transient,b:200"
