"""Every image answer says what it cost (``x-imagegate-cost``) and, with a budget, what is left
(``x-imagegate-budget-remaining``), in every answer kind: plain JSON, a stream (the completed
event's ``imagegate`` object always; the headers when the image was ready before them), an
async job's result, and replays (cost 0), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import respx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.config import UPSTREAM, MakeConfig
from tests.support.images import png_bytes
from tests.support.keys import add_key, bearer, serve_with_database, settled, spent
from tests.support.waiting import poll_until

GENERATIONS = f"{UPSTREAM}/images/generations"
IMAGE = {"b64_json": base64.b64encode(png_bytes((16, 16))).decode()}
DALLE = {"model": "dall-e-3", "prompt": "a fox", "quality": "standard"}  # 0.04 USD an image
PRICE = 40_000_000
BUDGET = 10 * PRICE
STREAM = {"prompt": "a fox", "stream": True}  # gpt-image-2: priced by its tokens
USAGE = {"input_tokens": 7, "output_tokens": 70, "total_tokens": 77}
TOKEN_COST = (7 * 5 + 70 * 30) * 1000  # 5 and 30 USD per million tokens in the test config


def upstream_after(seconds: float) -> Callable[[httpx.Request], Any]:
    async def answer(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(seconds)
        reply = {"created": 1, "data": [IMAGE], "usage": USAGE, "size": "1024x1024"}
        return httpx.Response(200, json=reply)

    return answer


def first_event_wait(seconds: float) -> Callable[[dict], None]:
    def edit(data: dict) -> None:
        data["auth"] = {"budget_sync_interval": 0.02}
        data["streaming"] = {"keepalive_interval": 0.05, "first_event_wait": seconds}

    return edit


def completed_event(text: str) -> dict[str, Any]:
    [data] = [
        orjson.loads(line.removeprefix("data: "))
        for line in text.splitlines()
        if line.startswith("data: {") and "completed" in line
    ]
    assert isinstance(data, dict)
    return data


async def test_a_stream_carries_its_cost_in_the_completed_event_and_never_guesses_a_header(
    make_config: MakeConfig, upstream: respx.MockRouter, engine: AsyncEngine
) -> None:
    upstream.post(GENERATIONS).mock(side_effect=upstream_after(0.3))
    key_id, secret = await add_key(engine, "alice", budget_nanos=BUDGET)
    async with serve_with_database(make_config(first_event_wait(0.01)), engine) as client:
        response = await client.post("/v1/images/generations", json=STREAM, headers=bearer(secret))
        await settled(engine)
    assert response.status_code == 200, response.text
    assert "x-imagegate-cost" not in response.headers  # sent before the cost was known
    assert completed_event(response.text)["imagegate"] == {
        "cost": "0.002135",
        "budget_remaining": "0.397865",
    }
    assert await spent(engine, f"key:{key_id}") == (TOKEN_COST, 0)


async def test_a_stream_ready_before_its_headers_and_its_replay_carry_the_headers(
    make_config: MakeConfig, upstream: respx.MockRouter, engine: AsyncEngine
) -> None:
    upstream.post(GENERATIONS).mock(side_effect=upstream_after(0.0))
    key_id, secret = await add_key(engine, "alice", budget_nanos=BUDGET)
    headers = {**bearer(secret), "idempotency-key": "stream-once"}
    # the wait ends at the first event: long, so that a slow machine still has the image first
    async with serve_with_database(make_config(first_event_wait(30.0)), engine) as client:
        first = await client.post("/v1/images/generations", json=STREAM, headers=headers)
        again = await client.post("/v1/images/generations", json=STREAM, headers=headers)
        await settled(engine)
    assert first.headers["x-imagegate-cost"] == "0.002135"
    assert first.headers["x-imagegate-budget-remaining"] == "0.397865"
    assert completed_event(first.text)["imagegate"]["cost"] == "0.002135"
    assert again.headers["x-imagegate-idempotent-replay"] == "true"
    assert again.headers["x-imagegate-cost"] == "0"
    assert completed_event(again.text)["imagegate"]["cost"] == "0"
    assert await spent(engine, f"key:{key_id}") == (TOKEN_COST, 0)


async def test_an_async_jobs_result_carries_the_cost_headers(
    make_config: MakeConfig, upstream: respx.MockRouter, engine: AsyncEngine
) -> None:
    upstream.post(GENERATIONS).mock(side_effect=upstream_after(0.0))
    key_id, secret = await add_key(engine, "alice", budget_nanos=BUDGET)
    headers = {**bearer(secret), "prefer": "respond-async"}
    async with serve_with_database(make_config(first_event_wait(0.05)), engine) as client:
        accepted = await client.post("/v1/images/generations", json=DALLE, headers=headers)
        assert accepted.status_code == 202
        path = accepted.json()["status_url"].removeprefix("http://gateway.test")
        job = await poll_until(
            lambda: client.get(path, headers=bearer(secret)),
            lambda r: r.json()["status"] == "succeeded",
            what="the job succeeds",
        )
        await settled(engine)
    assert job.json()["status"] == "succeeded", job.text
    assert job.headers["x-imagegate-cost"] == "0.04"
    assert job.headers["x-imagegate-budget-remaining"] == "0.36"
    result = job.json()["result"]
    assert result["imagegate"] == {"cost": "0.04", "budget_remaining": "0.36"}
    assert len(result["data"]) == 1 and result["data"][0]["url"].endswith(".png")
    assert await spent(engine, f"key:{key_id}") == (PRICE, 0)


async def test_a_plain_answer_and_its_replay(
    make_config: MakeConfig, upstream: respx.MockRouter, engine: AsyncEngine
) -> None:
    upstream.post(GENERATIONS).mock(side_effect=upstream_after(0.0))
    _, secret = await add_key(engine, "alice", budget_nanos=BUDGET)
    headers = {**bearer(secret), "idempotency-key": "plain-once"}
    async with serve_with_database(make_config(first_event_wait(0.05)), engine) as client:
        first = await client.post("/v1/images/generations", json=DALLE, headers=headers)
        again = await client.post("/v1/images/generations", json=DALLE, headers=headers)
    assert (first.headers["x-imagegate-cost"], again.headers["x-imagegate-cost"]) == ("0.04", "0")
    assert first.headers["x-imagegate-budget-remaining"] == "0.36"
    assert again.headers["x-imagegate-idempotent-replay"] == "true"


async def test_json_with_keepalives_that_outlast_an_interval_carries_the_cost_in_its_body(
    make_config: MakeConfig, upstream: respx.MockRouter, engine: AsyncEngine
) -> None:
    upstream.post(GENERATIONS).mock(side_effect=upstream_after(0.3))
    _, secret = await add_key(engine, "alice", budget_nanos=BUDGET)
    headers = {**bearer(secret), "x-imagegate-keepalive": "1"}
    async with serve_with_database(make_config(first_event_wait(0.05)), engine) as client:
        answer = await client.post("/v1/images/generations", json=DALLE, headers=headers)
    assert answer.status_code == 200 and answer.text.startswith(" ")  # spaces, then the JSON
    assert "x-imagegate-cost" not in answer.headers  # they went out before the image was ready
    assert answer.json()["imagegate"] == {"cost": "0.04", "budget_remaining": "0.36"}
