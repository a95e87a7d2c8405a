"""Idempotency-Key through the API: one upstream call per key, whatever the response mode, and a
key reused for a different request (input images included) is a 409."""

from __future__ import annotations

import asyncio
import base64
import gc
import io
import random
from collections.abc import Callable

import httpx
import orjson
import pytest
import respx
from PIL import Image

from app.inputs.spool import MemoryBlob
from tests.support.app import serve_in_process
from tests.support.config import UPSTREAM, MakeConfig
from tests.support.images import png_bytes
from tests.support.waiting import poll_until

GENERATIONS = f"{UPSTREAM}/images/generations"
EDITS = f"{UPSTREAM}/images/edits"
PNG = png_bytes((16, 16))
OK = httpx.Response(
    200, json={"created": 1, "data": [{"b64_json": base64.b64encode(PNG).decode()}]}
)


def sse_reply() -> httpx.Response:
    completed = {
        "type": "image_generation.completed",
        "b64_json": base64.b64encode(PNG).decode(),
        "size": "1024x1024",
        "quality": "low",
        "background": "opaque",
        "output_format": "png",
        "created_at": 2,
        "usage": {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3},
    }
    body = b"event: image_generation.completed\ndata: " + orjson.dumps(completed) + b"\n\n"
    return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})


def events(body: bytes) -> list[tuple[str, bytes]]:
    """(event name, data) for each frame; ``[DONE]`` has the name ``""``."""
    found = []
    for frame in body.split(b"\n\n"):
        name, data = "", b""
        for line in frame.split(b"\n"):
            if line.startswith(b"event: "):
                name = line[7:].decode()
            elif line.startswith(b"data: "):
                data = line[6:]
        if data:
            found.append((name, data))
    return found


async def edit(
    client: httpx.AsyncClient, image: bytes, key: str, shape: str = "multipart"
) -> httpx.Response:
    headers = {"idempotency-key": key}
    if shape == "json":
        uri = "data:image/png;base64," + base64.b64encode(image).decode()
        body = {"prompt": "x", "images": [{"image_url": uri}]}
        return await client.post("/v1/images/edits", json=body, headers=headers)
    return await client.post(
        "/v1/images/edits",
        data={"prompt": "x"},
        files=[("image", ("a.png", image))],
        headers=headers,
    )


def noise_png(seed: int) -> bytes:
    """About 1.5 MB of PNG: large enough to be spooled to a file rather than held in memory."""
    out = io.BytesIO()
    Image.frombytes("RGB", (720, 720), random.Random(seed).randbytes(720 * 720 * 3)).save(
        out, "PNG", compress_level=0
    )
    return out.getvalue()


@pytest.mark.parametrize(
    ("shape", "images"),
    [
        ("multipart", lambda: (png_bytes((64, 64), (255, 0, 0)), png_bytes((64, 64), (0, 0, 9)))),
        ("json", lambda: (png_bytes((64, 64), (255, 0, 0)), png_bytes((64, 64), (0, 0, 9)))),
        ("multipart", lambda: (noise_png(1), noise_png(2))),
        ("json", lambda: (noise_png(1), noise_png(2))),
    ],
)
async def test_the_same_key_with_other_input_images_is_a_conflict_not_a_replay(
    make_config: MakeConfig,
    upstream: respx.MockRouter,
    shape: str,
    images: Callable[[], tuple[bytes, bytes]],
) -> None:
    route = upstream.post(EDITS).mock(return_value=OK)
    one, two = images()
    async with serve_in_process(make_config()) as client:
        first = await edit(client, one, "edit-1", shape)
        same = await edit(client, one, "edit-1", shape)
        other = await edit(client, two, "edit-1", shape)
    assert first.status_code == 200 and same.status_code == 200
    assert same.headers["x-imagegate-idempotent-replay"] == "true"
    assert other.status_code == 409, other.text
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert route.call_count == 1


async def test_cached_answers_keep_no_input_image_bytes(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> None:
    upstream.post(EDITS).mock(return_value=OK)
    image = png_bytes((64, 64), (1, 2, 3))
    async with serve_in_process(make_config()) as client:
        for i in range(3):
            assert (await edit(client, image, f"mem-{i}")).status_code == 200
        again = await edit(client, image, "mem-0")
        assert again.headers["x-imagegate-idempotent-replay"] == "true"
        gc.collect()
        held = [o for o in gc.get_objects() if isinstance(o, MemoryBlob) and o.data == image]
    assert held == []


async def test_a_repeated_stream_replays_the_finished_image_without_a_second_call(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> None:
    route = upstream.post(GENERATIONS).mock(side_effect=lambda _: sse_reply())
    body = {"prompt": "x", "stream": True}
    async with serve_in_process(make_config()) as client:
        headers = {"idempotency-key": "stream-1"}
        first = await client.post("/v1/images/generations", json=body, headers=headers)
        again = await client.post("/v1/images/generations", json=body, headers=headers)
    assert route.call_count == 1
    assert first.status_code == 200 and again.status_code == 200
    replayed = events(again.content)
    assert [name for name, _ in replayed] == ["image_generation.completed", ""]
    completed = orjson.loads(replayed[0][1])
    original = orjson.loads(events(first.content)[0][1])
    assert base64.b64decode(completed["b64_json"]) == PNG
    assert completed["url"] == original["url"]
    assert again.headers["x-imagegate-idempotent-replay"] == "true"


async def test_concurrent_duplicate_streams_cause_one_upstream_call(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.2)
        return sse_reply()

    route = upstream.post(GENERATIONS).mock(side_effect=slow)
    body = {"prompt": "x", "stream": True}
    async with serve_in_process(make_config()) as client:
        replies = await asyncio.gather(
            *(
                client.post("/v1/images/generations", json=body, headers={"idempotency-key": "s"})
                for _ in range(3)
            )
        )
    assert route.call_count == 1
    urls = {orjson.loads(events(r.content)[0][1])["url"] for r in replies}
    assert len(urls) == 1


async def test_the_same_key_on_an_async_request_returns_the_same_job(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> None:
    route = upstream.post(GENERATIONS).mock(return_value=OK)
    headers = {"prefer": "respond-async", "idempotency-key": "job-1"}
    async with serve_in_process(make_config()) as client:
        first = await client.post("/v1/images/generations", json={"prompt": "x"}, headers=headers)
        again = await client.post("/v1/images/generations", json={"prompt": "x"}, headers=headers)
        other = await client.post("/v1/images/generations", json={"prompt": "y"}, headers=headers)
        job = await poll_until(
            lambda: client.get(f"/v1/images/jobs/{first.json()['id']}"),
            lambda r: r.json()["status"] == "succeeded",
            what="the job succeeds",
        )
    assert first.status_code == 202 and again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert other.status_code == 409
    assert job.json()["status"] == "succeeded"
    assert route.call_count == 1


async def test_a_stream_reusing_a_key_for_another_request_is_a_conflict(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> None:
    route = upstream.post(GENERATIONS).mock(side_effect=lambda _: sse_reply())
    headers = {"idempotency-key": "stream-2"}
    async with serve_in_process(make_config()) as client:
        first = await client.post(
            "/v1/images/generations", json={"prompt": "x", "stream": True}, headers=headers
        )
        other = await client.post(
            "/v1/images/generations", json={"prompt": "y", "stream": True}, headers=headers
        )
    assert first.status_code == 200 and route.call_count == 1
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"
