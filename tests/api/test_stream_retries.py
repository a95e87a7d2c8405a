"""Streams go through the same attempt loop as whole runs: retries and fallback before the
first event, none after it."""

from __future__ import annotations

import base64
from collections.abc import Mapping

import httpx
import orjson
import pytest
import respx

from tests.support.app import serve_in_process
from tests.support.config import MakeConfig
from tests.support.routing import PNG, A, B, two_carriers

B64 = base64.b64encode(PNG).decode()


def sse(*events: Mapping[str, object]) -> httpx.Response:
    body = b"".join(
        b"event: " + str(e["type"]).encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n"
        for e in events
    )
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)


PARTIAL = {"type": "image_generation.partial_image", "b64_json": B64, "partial_image_index": 0}
COMPLETED = {"type": "image_generation.completed", "b64_json": B64}
BROKEN = {"type": "error", "error": {"type": "server_error", "message": "boom"}}


async def stream(client: httpx.AsyncClient) -> str:
    body = {"prompt": "a fox", "stream": True, "partial_images": 1}
    response = await client.post("/v1/images/generations", json=body)
    assert response.status_code == 200
    return response.text


@pytest.mark.respx(assert_all_called=False)  # b is declared to show it is never called
async def test_a_stream_retries_a_transient_failure_before_its_first_event(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> None:
    a = upstream.post(A).mock(side_effect=[httpx.Response(502), sse(PARTIAL, COMPLETED)])
    b = upstream.post(B).mock(return_value=sse(COMPLETED))
    async with serve_in_process(make_config(two_carriers(retries=1, failures=5))) as client:
        text = await stream(client)
    assert a.call_count == 2 and b.call_count == 0
    assert "image_generation.partial_image" in text
    assert "image_generation.completed" in text
    assert B64 in text


async def test_a_stream_falls_back_to_the_next_carrier_before_its_first_event(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> None:
    a = upstream.post(A).mock(return_value=httpx.Response(503))
    b = upstream.post(B).mock(return_value=sse(COMPLETED))
    async with serve_in_process(make_config(two_carriers(retries=0, failures=5))) as client:
        text = await stream(client)
    assert a.call_count == 1 and b.call_count == 1
    assert "image_generation.completed" in text


@pytest.mark.respx(assert_all_called=False)  # b is declared to show it is never called
async def test_no_second_attempt_once_partial_images_were_sent(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> None:
    a = upstream.post(A).mock(return_value=sse(PARTIAL, BROKEN))
    b = upstream.post(B).mock(return_value=sse(COMPLETED))
    async with serve_in_process(make_config(two_carriers(retries=2, failures=5))) as client:
        text = await stream(client)
    assert a.call_count == 1 and b.call_count == 0
    assert "image_generation.partial_image" in text
    assert "image_generation.completed" not in text
    assert '"error"' in text
