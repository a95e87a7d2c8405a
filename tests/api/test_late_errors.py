"""A failure after the headers are sent (event stream, keep-alive JSON, async job) carries the
same error object as the HTTP error of a plain request: one rendering of an error."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import respx

from tests.support.app import serve_in_process
from tests.support.config import UPSTREAM, MakeConfig
from tests.support.waiting import poll_until

GENERATIONS = f"{UPSTREAM}/images/generations"


def quick_keepalives(data: dict) -> None:
    data["streaming"] = {"keepalive_interval": 0.05, "first_event_wait": 0.05}


async def test_late_failures_carry_the_plain_error_object(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> None:
    async def slow_failure(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.15)  # past the first keep-alive: headers are committed
        return httpx.Response(400, json={"error": {"message": "nope", "code": "bad_prompt"}})

    upstream.post(GENERATIONS).mock(side_effect=slow_failure)
    url = "/v1/images/generations"
    async with serve_in_process(make_config(quick_keepalives)) as client:
        plain = await client.post(url, json={"prompt": "x"})
        kept = await client.post(url, json={"prompt": "x"}, headers={"x-imagegate-keepalive": "1"})
        streamed = await client.post(url, json={"prompt": "x", "stream": True})
        job = await client.post(url, json={"prompt": "x"}, headers={"prefer": "respond-async"})
        status = (
            await poll_until(
                lambda: client.get(f"/v1/images/jobs/{job.json()['id']}"),
                lambda r: r.json()["status"] == "failed",
                what="the job fails",
            )
        ).json()
    expected = plain.json()
    assert plain.status_code == 400 and expected["error"]["code"] == "bad_prompt"
    assert kept.status_code == 200 and kept.content.startswith(b" ")
    assert orjson.loads(kept.content) == expected
    assert streamed.status_code == 200
    frame = streamed.content.split(b"event: error\ndata: ")[1].split(b"\n\n")[0]
    assert orjson.loads(frame) == {"type": "error", **expected}
    assert status["status"] == "failed" and status["error"] == expected["error"]
