"""An upstream key never reaches a client or a log: the fake upstream echoes the key it is sent
in every field of every answer (success bodies, stream events, errors), and no response, event,
header, job result or captured log line may contain it."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from app.carriers.http import default_transport
from tests.support.app import serve_in_process
from tests.support.config import MakeConfig
from tests.support.images import png_bytes
from tests.support.upstream import FakeUpstream, Reply, Seen, json_reply

CANARY = "sk-canary-7f3a9c2e51d84b06"
B64 = base64.b64encode(png_bytes((24, 24))).decode()


def echo(key: str) -> dict[str, Any]:
    """Every field an upstream answer may carry, each holding the key."""
    return {
        "size": key,
        "quality": key,
        "background": key,
        "output_format": key,
        "echo": key,
        "usage": {"input_tokens": 3, "note": key, key: [key, {"deep": key}]},
    }


def sse(*events: tuple[str, dict[str, Any]]) -> Reply:
    body = b"".join(
        b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"
        for name, data in events
    )
    return Reply(200, body, {"content-type": "text/event-stream"})


def upstream_echo(seen: Seen) -> Reply:
    key = seen.headers["authorization"].removeprefix("Bearer ")
    request = seen.json()
    scenario = request["prompt"]
    error = {"message": f"upstream says {key}", "code": key, "param": key}
    if scenario == "rejected":
        return json_reply({"error": {**error, "type": "invalid_request_error"}}, 400)
    if scenario in ("bad-key", "forbidden", "broken"):
        status = {"bad-key": 401, "forbidden": 403, "broken": 500}[scenario]
        return json_reply({"error": {**error, "type": key}}, status)
    if request.get("stream"):
        partial = {
            "type": "image_generation.partial_image",
            "b64_json": B64,
            "partial_image_index": 0,
        }
        done = {"type": "image_generation.completed", "b64_json": B64, "revised_prompt": key}
        if scenario == "stream-error":
            return sse(
                ("image_generation.partial_image", {**partial, **echo(key)}),
                ("error", {"type": "error", "error": {**error, "type": key}}),
            )
        return sse(
            ("image_generation.partial_image", {**partial, **echo(key)}),
            ("image_generation.completed", {**done, **echo(key)}),
        )
    item = {"b64_json": B64, "revised_prompt": f"a fox, as {key} said"}
    return json_reply({"created": 1, "data": [item], **echo(key)})


@pytest.fixture
async def client(make_config: MakeConfig, fake: FakeUpstream) -> AsyncIterator[httpx.AsyncClient]:
    fake.route("/v1/images/generations", upstream_echo)

    def canary(data: dict[str, Any]) -> None:
        data["carriers"][0].update(base_url=fake.base_url, api_key=CANARY, retries=0)
        data["auth"] = {"keys": ["gk-client-key-123456"]}
        # A rejected key cools the carrier down; let every scenario reach the upstream.
        data["routing"]["cooldown"] = {"failures": 1000, "window": 60, "duration": 0.001}

    config = make_config(canary)
    async with serve_in_process(config, http_transport=default_transport) as c:
        c.headers["authorization"] = "Bearer gk-client-key-123456"
        yield c


def assert_clean(response: httpx.Response) -> None:
    assert CANARY not in response.text
    assert not [v for v in response.headers.values() if CANARY in v]


async def job_result(client: httpx.AsyncClient, prompt: str) -> httpx.Response:
    accepted = await client.post(
        "/v1/images/generations", json={"prompt": prompt}, headers={"prefer": "respond-async"}
    )
    for _ in range(300):
        job = await client.get(accepted.json()["status_url"])
        if job.json()["status"] in ("succeeded", "failed"):
            return job
        await asyncio.sleep(0.02)
    raise AssertionError("the job never finished")


async def test_the_key_never_leaves_in_any_text(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[httpx.Response] = []
    for prompt in ("ok", "rejected", "bad-key", "forbidden", "broken"):
        for extra in ({}, {"response_format": "b64_json"}, {"stream": True}):
            seen.append(
                await client.post("/v1/images/generations", json={"prompt": prompt, **extra})
            )
            await asyncio.sleep(0.01)  # past the 1 ms cooldown a failure starts
    seen.append(
        await client.post(
            "/v1/images/generations",
            json={"prompt": "stream-error", "stream": True, "partial_images": 1},
        )
    )
    await asyncio.sleep(0.01)
    seen += [await job_result(client, "ok"), await job_result(client, "rejected")]
    seen.append(await client.get("/v1/carriers"))
    ok, ok_b64, ok_stream = seen[0], seen[1], seen[2]
    assert ok.status_code == 200 and ok_b64.status_code == 200
    assert ok.json()["data"][0]["revised_prompt"] == "a fox, as *** said"
    assert ok.json()["usage"]["note"] == "***" and ok.json()["size"] == "***"
    assert "image_generation.completed" in ok_stream.text and "***" in ok_stream.text
    assert seen[3].status_code == 400 and seen[3].json()["error"]["code"] == "***"
    assert "event: error" in seen[15].text and "partial_image" in seen[15].text
    assert seen[16].json()["status"] == "succeeded" and seen[17].json()["status"] == "failed"
    for response in seen:
        assert_clean(response)
    assert caplog.records
    for record in caplog.records:
        assert CANARY not in record.getMessage()
        assert "gk-client-key-123456" not in record.getMessage()
    assert CANARY not in caplog.text


async def test_log_lines_that_name_a_key_are_masked(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Whatever code logs (arguments, messages, tracebacks), the handler's output is masked."""
    log = logging.getLogger("app.some.module")
    log.warning("calling with %s", CANARY)
    log.warning(f"gateway key gk-client-key-123456 and {CANARY}")
    try:
        raise ValueError(f"boom {CANARY}")
    except ValueError:
        log.exception("failed")
    assert CANARY not in caplog.text and "gk-client-key-123456" not in caplog.text
    assert caplog.text.count("***") >= 4
