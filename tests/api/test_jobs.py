"""Async jobs: 202 with a status URL, lifecycle, scoping, expiry, restart, bounded concurrency."""

from __future__ import annotations

import asyncio
import base64
import sqlite3
import time
from contextlib import closing
from typing import Any

import httpx
import pytest
import respx

from tests.support.app import serve_in_process
from tests.support.config import UPSTREAM, MakeConfig
from tests.support.images import png_bytes

GENERATIONS = f"{UPSTREAM}/images/generations"
PNG = png_bytes((8, 8))
OK = httpx.Response(
    200, json={"created": 1, "data": [{"b64_json": base64.b64encode(PNG).decode()}]}
)
ASYNC = {"prefer": "respond-async"}


def keyed(**jobs: Any):
    def edit(data: dict) -> None:
        data["auth"] = {"keys": ["gk-1", "gk-2"]}
        data.setdefault("jobs", {}).update(jobs)

    return edit


def as_key(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


async def poll(client: httpx.AsyncClient, url: str, key: str, until: set[str]) -> dict[str, Any]:
    """Wait for a job to reach one of ``until`` (it runs on the app's own loop, which this
    yields to between reads), failing after a generous deadline."""
    deadline = time.monotonic() + 10
    while True:
        body: dict[str, Any] = (await client.get(url, headers=as_key(key))).json()
        if body.get("status") in until:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"job never reached {until}: {body}")
        await asyncio.sleep(0.01)


def held_upstream(upstream: respx.MockRouter) -> tuple[asyncio.Event, asyncio.Event, list[bool]]:
    """The upstream holds every call until ``release`` is set; ``entered`` is set by the first
    call, and ``released_at_entry`` records, per call, whether ``release`` was already set."""
    entered, release, released_at_entry = asyncio.Event(), asyncio.Event(), []

    async def held(request: httpx.Request) -> httpx.Response:
        released_at_entry.append(release.is_set())
        entered.set()
        await release.wait()
        return OK

    upstream.post(GENERATIONS).mock(side_effect=held)
    return entered, release, released_at_entry


async def test_lifecycle_and_scoping(make_config: MakeConfig, upstream: respx.MockRouter) -> None:
    entered, release, _ = held_upstream(upstream)
    async with serve_in_process(make_config(keyed())) as client:
        accepted = await client.post(
            "/v1/images/generations", json={"prompt": "x"}, headers={**ASYNC, **as_key("gk-1")}
        )
        assert accepted.status_code == 202
        job = accepted.json()
        assert (
            job["status"] == "queued"
            and job["object"] == "image.job"
            and job["id"].startswith("imgjob_")
        )
        assert (
            accepted.headers["location"]
            == job["status_url"]
            == f"http://gateway.test/v1/images/jobs/{job['id']}"
        )
        assert accepted.headers["preference-applied"] == "respond-async"
        path = job["status_url"].removeprefix("http://gateway.test")
        await entered.wait()  # the job is at the upstream, held there: it must read as running
        running = (await client.get(path, headers=as_key("gk-1"))).json()
        assert running["status"] == "running" and running["completed_at"] is None
        release.set()
        done = await poll(client, path, "gk-1", {"succeeded"})
        other = await client.get(path, headers=as_key("gk-2"))
        image = await client.get(done["result"]["data"][0]["url"])
    assert done["result"]["created"] and done["completed_at"] >= done["created_at"]
    assert image.content == PNG
    assert other.status_code == 404 and other.json()["error"]["code"] == "not_found"


async def test_failed_jobs_carry_the_error(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> None:
    upstream.post(GENERATIONS).mock(
        return_value=httpx.Response(
            400,
            json={
                "error": {
                    "message": "refused",
                    "type": "image_generation_user_error",
                    "code": "moderation_blocked",
                }
            },
        )
    )
    async with serve_in_process(make_config(keyed())) as client:
        job = (
            await client.post(
                "/v1/images/generations", json={"prompt": "x"}, headers={**ASYNC, **as_key("gk-1")}
            )
        ).json()
        failed = await poll(client, f"/v1/images/jobs/{job['id']}", "gk-1", {"failed"})
    assert failed["error"] == {
        "message": "refused",
        "type": "image_generation_user_error",
        "param": None,
        "code": "moderation_blocked",
    }
    assert "result" not in failed


async def test_bad_input_is_refused_before_a_job_exists(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> None:
    config = make_config(keyed())
    async with serve_in_process(config) as client:
        bad = await client.post(
            "/v1/images/generations",
            json={"prompt": "x", "n": 0},
            headers={**ASYNC, **as_key("gk-1")},
        )
        both = await client.post(
            "/v1/images/generations",
            json={"prompt": "x", "stream": True},
            headers={**ASYNC, **as_key("gk-1")},
        )
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "n"
    assert both.status_code == 400 and both.json()["error"]["param"] == "stream"
    assert "location" not in bad.headers and "location" not in both.headers
    assert not upstream.calls
    database = config.database.url.get_secret_value().removeprefix("sqlite:///")
    with closing(sqlite3.connect(database)) as db:
        assert db.execute("select count(*) from async_jobs").fetchone() == (0,)  # not even failed


async def test_jobs_expire(make_config: MakeConfig, upstream: respx.MockRouter) -> None:
    upstream.post(GENERATIONS).mock(return_value=OK)
    ttl = 3.0  # counted from the job's creation: the job must be done and read well within it
    async with serve_in_process(make_config(keyed(ttl=ttl))) as client:
        job = (
            await client.post(
                "/v1/images/generations", json={"prompt": "x"}, headers={**ASYNC, **as_key("gk-1")}
            )
        ).json()
        created_by = time.time()  # the job was created before its 202 came back
        await poll(client, f"/v1/images/jobs/{job['id']}", "gk-1", {"succeeded"})
        await asyncio.sleep(max(0.0, created_by + ttl + 0.05 - time.time()))
        gone = await client.get(f"/v1/images/jobs/{job['id']}", headers=as_key("gk-1"))
    assert gone.status_code == 404


async def test_bounded_concurrency_and_queue_limit(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> None:
    entered, release, released_at_entry = held_upstream(upstream)
    async with serve_in_process(make_config(keyed(max_running=1, max_queued=1))) as client:

        def post() -> Any:
            return client.post(
                "/v1/images/generations", json={"prompt": "x"}, headers={**ASYNC, **as_key("gk-1")}
            )

        first, second = (await post()).json(), (await post()).json()
        await entered.wait()
        waiting = (
            await client.get(f"/v1/images/jobs/{second['id']}", headers=as_key("gk-1"))
        ).json()
        full = await post()
        assert waiting["status"] == "queued"
        assert full.status_code == 429 and full.json()["error"]["code"] == "too_many_jobs"
        release.set()
        await poll(client, f"/v1/images/jobs/{second['id']}", "gk-1", {"succeeded"})
        assert (await client.get(f"/v1/images/jobs/{first['id']}", headers=as_key("gk-1"))).json()[
            "status"
        ] == "succeeded"
    # Two upstream calls, and the second job reached the upstream only once the first was let go.
    assert released_at_entry == [False, True]


async def test_a_second_gateway_starting_never_touches_a_live_gateways_job(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> None:
    """A second gateway starting on the database of one whose job is still running sees the
    job running (its owner's lease is alive) and, once the owner finishes it, succeeded; it is
    shown only to the caller who created it. (Jobs of a dead owner: tests/db/test_job_leases.py
    and tests/replicas/.)"""
    entered, release, _ = held_upstream(upstream)
    config = make_config(keyed())
    async with serve_in_process(config) as first:
        job = (
            await first.post(
                "/v1/images/generations", json={"prompt": "x"}, headers={**ASYNC, **as_key("gk-1")}
            )
        ).json()
        await entered.wait()
        async with serve_in_process(config) as second:
            path = f"/v1/images/jobs/{job['id']}"
            running = (await second.get(path, headers=as_key("gk-1"))).json()
            other = await second.get(path, headers=as_key("gk-2"))
            release.set()
            done = await poll(second, path, "gk-1", {"succeeded", "failed"})
    assert running["status"] == "running"
    assert done["status"] == "succeeded"
    assert other.status_code == 404


@pytest.mark.parametrize("prefer", ["respond-async", "wait=10, respond-async", "RESPOND-ASYNC"])
async def test_prefer_header_forms(
    make_config: MakeConfig, upstream: respx.MockRouter, prefer: str
) -> None:
    upstream.post(GENERATIONS).mock(return_value=OK)
    async with serve_in_process(make_config()) as client:
        response = await client.post(
            "/v1/images/generations", json={"prompt": "x"}, headers={"prefer": prefer}
        )
    assert response.status_code == 202
