"""State that outlives the gateway, on SQLite and PostgreSQL: two app instances, one after the
other, on one database (a restart). An Idempotency-Key retried after the restart gets the stored
answer without a new upstream call; an async job made before it is still there after it."""

from __future__ import annotations

import asyncio
import base64

import httpx
import respx

from tests.support.app import serve_in_process
from tests.support.config import UPSTREAM, MakeConfig
from tests.support.images import png_bytes

GENERATIONS = f"{UPSTREAM}/images/generations"
PNG = png_bytes((8, 8))
OK = httpx.Response(
    200, json={"created": 1, "data": [{"b64_json": base64.b64encode(PNG).decode()}]}
)
AUTH = {"authorization": "Bearer gk-1"}


def on(database_url: str):
    def edit(data: dict) -> None:
        data["database"] = {"url": database_url}
        data["auth"] = {"keys": ["gk-1"]}

    return edit


async def test_an_idempotent_retry_after_a_restart_gets_the_stored_answer(
    make_config: MakeConfig, upstream: respx.MockRouter, database_url: str
) -> None:
    route = upstream.post(GENERATIONS).mock(return_value=OK)
    config = make_config(on(database_url))
    headers = {**AUTH, "idempotency-key": "order-42"}
    body = {"prompt": "a lighthouse", "response_format": "b64_json"}
    async with serve_in_process(config) as before:
        first = await before.post("/v1/images/generations", json=body, headers=headers)
    async with serve_in_process(config) as after:
        again = await after.post("/v1/images/generations", json=body, headers=headers)
        other = await after.post(
            "/v1/images/generations", json={**body, "prompt": "another"}, headers=headers
        )
        as_url = await after.post(
            "/v1/images/generations",
            json={"prompt": "x"},
            headers={**AUTH, "idempotency-key": "order-43"},
        )
    assert first.status_code == again.status_code == 200
    assert again.headers["x-imagegate-idempotent-replay"] == "true"
    assert again.json()["data"] == first.json()["data"]  # the same image, read back from storage
    assert base64.b64decode(again.json()["data"][0]["b64_json"]) == PNG
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"
    assert as_url.status_code == 200 and route.call_count == 2  # order-42 once, order-43 once


async def test_an_async_job_outlives_a_restart(
    make_config: MakeConfig, upstream: respx.MockRouter, database_url: str
) -> None:
    route = upstream.post(GENERATIONS).mock(return_value=OK)
    config = make_config(on(database_url))
    headers = {**AUTH, "prefer": "respond-async", "idempotency-key": "job-7"}
    async with serve_in_process(config) as before:
        accepted = (
            await before.post("/v1/images/generations", json={"prompt": "x"}, headers=headers)
        ).json()
        path = f"/v1/images/jobs/{accepted['id']}"
        for _ in range(500):
            if (await before.get(path, headers=AUTH)).json()["status"] == "succeeded":
                break
            await asyncio.sleep(0.01)
    async with serve_in_process(config) as after:
        job = (await after.get(path, headers=AUTH)).json()
        image = await after.get(job["result"]["data"][0]["url"])
        repeated = await after.post("/v1/images/generations", json={"prompt": "x"}, headers=headers)
    assert job["status"] == "succeeded" and image.content == PNG
    assert repeated.status_code == 202 and repeated.json()["id"] == accepted["id"]
    assert route.call_count == 1
