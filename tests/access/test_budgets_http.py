"""Budgets through the HTTP app, on SQLite and PostgreSQL: the cap holds under concurrency, and
every outcome settles (success, failure, replay, stream, a client that left)."""

from __future__ import annotations

import asyncio
import base64
from collections import Counter
from collections.abc import Awaitable, Callable

import httpx
import pytest
import respx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.config import UPSTREAM, MakeConfig
from tests.support.images import png_bytes
from tests.support.keys import add_key, bearer, serve_with_database, settled, spent
from tests.support.waiting import HeldAnswer

GENERATIONS = f"{UPSTREAM}/images/generations"
PNG = png_bytes((16, 16))
IMAGE = {"b64_json": base64.b64encode(PNG).decode()}
USAGE = {"input_tokens": 7, "output_tokens": 70, "total_tokens": 77}
TOKEN_COST = (7 * 5 + 70 * 30) * 1000  # gpt-image-2 in the test config: 5 and 30 USD per Mtok
DALLE = {"model": "dall-e-3", "prompt": "a fox", "quality": "standard"}  # 0.04 USD an image
IMAGE_PRICE = 40_000_000


def quick(data: dict) -> None:
    """Budget charges written every 20 ms, so idle leases are written off quickly."""
    data["auth"] = {"budget_sync_interval": 0.02}


def fast(data: dict) -> None:
    quick(data)
    data["streaming"] = {"keepalive_interval": 0.05, "first_event_wait": 0.05}


def reply(**extra: object) -> Callable[[httpx.Request], Awaitable[httpx.Response]]:
    async def answer(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.02)  # long enough for the requests to overlap
        return httpx.Response(200, json={"created": 1, "data": [IMAGE], **extra})

    return answer


async def test_64_concurrent_requests_against_a_budget_of_10_images(
    make_config: MakeConfig, upstream: respx.MockRouter, engine: AsyncEngine
) -> None:
    route = upstream.post(GENERATIONS).mock(side_effect=reply())
    key_id, secret = await add_key(engine, "alice", budget_nanos=10 * IMAGE_PRICE)
    owner, seen = f"key:{key_id}", []
    async with serve_with_database(make_config(quick), engine) as client:

        async def watch() -> None:
            while True:
                seen.append(await spent(engine, owner))
                await asyncio.sleep(0.002)

        watcher = asyncio.get_running_loop().create_task(watch())
        responses = await asyncio.gather(
            *(
                client.post("/v1/images/generations", json=DALLE, headers=bearer(secret))
                for _ in range(64)
            )
        )
        await settled(engine)
        watcher.cancel()
    assert Counter(r.status_code for r in responses) == {200: 10, 429: 54}
    refused = [r for r in responses if r.status_code == 429]
    assert {r.json()["error"]["code"] for r in refused} == {"insufficient_quota"}
    assert {r.headers["x-should-retry"] for r in refused} == {"false"}
    assert route.call_count == 10  # refused before any upstream work
    assert await spent(engine, owner) == (10 * IMAGE_PRICE, 0)
    assert len(seen) > 3 and all(s + h <= 10 * IMAGE_PRICE for s, h in seen)
    costs = {r.headers["x-imagegate-cost"] for r in responses if r.status_code == 200}
    assert costs == {"0.04"}
    remaining = sorted(
        r.headers["x-imagegate-budget-remaining"] for r in responses if r.status_code == 200
    )
    assert remaining[0] == "0"


async def test_a_failure_releases_everything(
    make_config: MakeConfig, upstream: respx.MockRouter, engine: AsyncEngine
) -> None:
    upstream.post(GENERATIONS).mock(
        return_value=httpx.Response(400, json={"error": {"message": "no", "code": "bad"}})
    )
    key_id, secret = await add_key(engine, "alice", budget_nanos=IMAGE_PRICE)
    async with serve_with_database(make_config(quick), engine) as client:
        response = await client.post("/v1/images/generations", json=DALLE, headers=bearer(secret))
        await settled(engine)
    assert response.status_code == 400
    assert await spent(engine, f"key:{key_id}") == (0, 0)


async def test_a_replay_costs_nothing_and_says_so(
    make_config: MakeConfig, upstream: respx.MockRouter, engine: AsyncEngine
) -> None:
    upstream.post(GENERATIONS).mock(side_effect=reply())
    key_id, secret = await add_key(engine, "alice", budget_nanos=2 * IMAGE_PRICE)
    headers = {**bearer(secret), "idempotency-key": "once"}
    async with serve_with_database(make_config(quick), engine) as client:
        first = await client.post("/v1/images/generations", json=DALLE, headers=headers)
        again = await client.post("/v1/images/generations", json=DALLE, headers=headers)
        await settled(engine)
    assert first.headers["x-imagegate-cost"] == "0.04"
    assert again.headers["x-imagegate-cost"] == "0"
    assert again.headers["x-imagegate-budget-remaining"] == "0.04"
    assert await spent(engine, f"key:{key_id}") == (IMAGE_PRICE, 0)


async def test_a_stream_settles_at_its_token_cost(
    make_config: MakeConfig, upstream: respx.MockRouter, engine: AsyncEngine
) -> None:
    upstream.post(GENERATIONS).mock(side_effect=reply(usage=USAGE, size="1024x1024"))
    key_id, secret = await add_key(engine, "alice", budget_nanos=10**9)
    body = {"prompt": "x", "stream": True}
    async with serve_with_database(make_config(fast), engine) as client:
        response = await client.post("/v1/images/generations", json=body, headers=bearer(secret))
        await settled(engine)
    assert response.status_code == 200 and "image_generation.completed" in response.text
    assert await spent(engine, f"key:{key_id}") == (TOKEN_COST, 0)


async def test_a_client_that_leaves_is_still_charged_when_the_work_ends(
    make_config: MakeConfig, upstream: respx.MockRouter, engine: AsyncEngine
) -> None:
    held = HeldAnswer(httpx.Response(200, json={"created": 1, "data": [IMAGE], "usage": USAGE}))
    upstream.post(GENERATIONS).mock(side_effect=held)
    key_id, secret = await add_key(engine, "alice", budget_nanos=10**9)
    owner = f"key:{key_id}"
    async with serve_with_database(make_config(quick), engine) as client:
        request = asyncio.get_running_loop().create_task(
            client.post("/v1/images/generations", json={"prompt": "x"}, headers=bearer(secret))
        )
        await held.wait_reached()  # admitted: the hold is taken before the upstream call
        assert (await spent(engine, owner))[1] > 0
        request.cancel()  # the client leaves while the upstream works
        with pytest.raises(asyncio.CancelledError):
            await request
        assert (await spent(engine, owner))[1] > 0
        held.release.set()
        await settled(engine)
    assert await spent(engine, f"key:{key_id}") == (TOKEN_COST, 0)


async def test_a_key_with_a_budget_cannot_use_an_unpriced_model(
    make_config: MakeConfig, upstream: respx.MockRouter, engine: AsyncEngine
) -> None:
    _, secret = await add_key(engine, "alice", budget_nanos=10**9)
    async with serve_with_database(make_config(quick), engine) as client:
        response = await client.post(
            "/v1/images/generations",
            json={"model": "gpt-image-1", "prompt": "x"},
            headers=bearer(secret),
        )
    assert response.status_code == 403
    assert response.json()["error"] | {"message": ""} == {
        "message": "",
        "type": "permission_error",
        "param": "model",
        "code": "model_unpriced",
    }
