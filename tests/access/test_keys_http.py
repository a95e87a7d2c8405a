"""Database keys through the HTTP app, on SQLite and PostgreSQL: expiry, revocation, rotation
grace, team caps across keys, each policy refusal as the client sees it, and ``GET /v1/key``."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime, timedelta

import httpx
import respx
from sqlalchemy.ext.asyncio import AsyncEngine

from app.access.db_keys import secret_hash
from tests.support.config import UPSTREAM, MakeConfig
from tests.support.images import png_bytes
from tests.support.keys import (
    add_key,
    add_team,
    bearer,
    change_key,
    serve_with_database,
    settled,
)

GENERATIONS = f"{UPSTREAM}/images/generations"
PNG = png_bytes((16, 16))
OK = httpx.Response(
    200, json={"created": 1, "data": [{"b64_json": base64.b64encode(PNG).decode()}]}
)
DALLE = {"model": "dall-e-3", "prompt": "a fox", "quality": "standard"}
TTL = 0.1


def keyed(data: dict) -> None:
    data["auth"] = {"keys": ["gk-config"], "key_cache_ttl": TTL, "budget_sync_interval": 0.02}


def now() -> datetime:
    return datetime.now(UTC)


async def post(client: httpx.AsyncClient, secret: str, body: dict | None = None) -> httpx.Response:
    return await client.post("/v1/images/generations", json=body or DALLE, headers=bearer(secret))


def gated_ok(reached: asyncio.Event, release: asyncio.Event):
    """An upstream that answers only once the test releases it: the request holds its slot
    and hold for as long as the test needs, however slow the machine."""

    async def answer(request: httpx.Request) -> httpx.Response:
        reached.set()  # admitted: the request is at the upstream
        await asyncio.wait_for(release.wait(), 10)
        return OK

    return answer


async def test_unknown_and_expired_keys_are_refused_and_config_keys_still_work(
    make_config: MakeConfig, upstream: respx.MockRouter, engine: AsyncEngine
) -> None:
    upstream.post(GENERATIONS).mock(return_value=OK)
    _, expired = await add_key(engine, "old", expires_at=now() - timedelta(seconds=1))
    async with serve_with_database(make_config(keyed), engine) as client:
        for secret in (expired, "ig-not-a-key"):
            response = await post(client, secret)
            assert (
                response.status_code == 401
                and response.json()["error"]["code"] == "invalid_api_key"
            )
        assert (await client.get("/v1/models")).status_code == 401  # no key at all
        assert (await post(client, "gk-config")).status_code == 200


async def test_a_revoked_key_finishes_in_flight_work_and_is_refused_next(
    make_config: MakeConfig, upstream: respx.MockRouter, engine: AsyncEngine
) -> None:
    reached, release = asyncio.Event(), asyncio.Event()
    upstream.post(GENERATIONS).mock(side_effect=gated_ok(reached, release))
    key_id, secret = await add_key(engine, "alice")
    async with serve_with_database(make_config(keyed), engine) as client:
        in_flight = asyncio.get_running_loop().create_task(post(client, secret))
        await asyncio.wait_for(reached.wait(), 5)
        await change_key(engine, key_id, revoked_at=now())
        await asyncio.sleep(TTL * 1.5)  # the cached lookup ends
        assert (await post(client, secret)).status_code == 401
        assert not in_flight.done()
        release.set()
        assert (await in_flight).status_code == 200


async def test_a_key_that_expires_mid_request_finishes_it_and_is_refused_next(
    make_config: MakeConfig, upstream: respx.MockRouter, engine: AsyncEngine
) -> None:
    reached, release = asyncio.Event(), asyncio.Event()
    upstream.post(GENERATIONS).mock(side_effect=gated_ok(reached, release))
    expires = now() + timedelta(seconds=0.6)
    _, secret = await add_key(engine, "alice", expires_at=expires)
    async with serve_with_database(make_config(keyed), engine) as client:
        in_flight = asyncio.get_running_loop().create_task(post(client, secret))
        await asyncio.wait_for(reached.wait(), 5)
        await asyncio.sleep((expires - now()).total_seconds() + 0.05)
        assert (await post(client, secret)).status_code == 401  # cached, and refused anyway
        assert not in_flight.done()
        release.set()
        assert (await in_flight).status_code == 200


async def test_rotation_keeps_the_old_secret_working_through_its_grace(
    make_config: MakeConfig, upstream: respx.MockRouter, engine: AsyncEngine
) -> None:
    upstream.post(GENERATIONS).mock(return_value=OK)
    key_id, old = await add_key(engine, "alice")
    new = "ig-rotated-" + "x" * 24
    await change_key(
        engine,
        key_id,
        key_hash=secret_hash(new),
        previous_hash=secret_hash(old),
        previous_expires_at=now() + timedelta(hours=1),
    )
    async with serve_with_database(make_config(keyed), engine) as client:
        assert (await post(client, old)).status_code == 200
        assert (await post(client, new)).status_code == 200
        await change_key(engine, key_id, previous_expires_at=now() - timedelta(seconds=1))
        await asyncio.sleep(TTL * 1.5)  # the cached lookup ends
        assert (await post(client, old)).status_code == 401
        assert (await post(client, new)).status_code == 200


async def test_a_team_budget_and_concurrency_cap_all_its_keys_together(
    make_config: MakeConfig, upstream: respx.MockRouter, engine: AsyncEngine
) -> None:
    reached, release = asyncio.Event(), asyncio.Event()
    upstream.post(GENERATIONS).mock(side_effect=gated_ok(reached, release))
    team = await add_team(engine, "design", budget_nanos=80_000_000, max_concurrent=1)
    _, alice = await add_key(engine, "alice", team=team, budget_nanos=10**9)
    _, bob = await add_key(engine, "bob", team=team)
    async with serve_with_database(make_config(keyed), engine) as client:
        first = asyncio.get_running_loop().create_task(post(client, alice))
        await asyncio.wait_for(reached.wait(), 5)
        busy = await post(client, bob)
        assert busy.status_code == 429 and busy.json()["error"]["code"] == "rate_limit_exceeded"
        assert busy.headers["x-ratelimit-limit-concurrent"] == "1" and "retry-after" in busy.headers
        assert "team 'design'" in busy.json()["error"]["message"]
        release.set()
        assert (await first).status_code == 200
        await settled(engine)  # the record stage gives the slot back with the hold
        assert (await post(client, bob)).status_code == 200
        over = await post(client, alice)
    assert over.status_code == 429 and over.json()["error"]["code"] == "insufficient_quota"


async def test_each_policy_refusal_as_the_client_sees_it(
    make_config: MakeConfig, upstream: respx.MockRouter, engine: AsyncEngine
) -> None:
    upstream.post(GENERATIONS).mock(return_value=OK)
    _, models = await add_key(engine, "models", models=["gi2", "dall-e-3"])
    _, limited = await add_key(
        engine, "limited", max_n=1, qualities=["low"], max_pixels=1024 * 1024, max_edit_images=1
    )
    _, rpm = await add_key(engine, "rpm", requests_per_minute=1)
    _, ipm = await add_key(engine, "ipm", images_per_minute=2)
    cases: list[tuple[str, dict, int, str, str | None]] = [
        (models, {"model": "gpt-image-1", "prompt": "x"}, 403, "model_not_allowed", "model"),
        (limited, {"prompt": "x", "n": 2, "quality": "low"}, 403, "limit_exceeded", "n"),
        (
            limited,
            {"prompt": "x", "quality": "high", "size": "1024x1024"},
            403,
            "limit_exceeded",
            "quality",
        ),
        (
            limited,
            {"prompt": "x", "quality": "low", "size": "1536x1024"},
            403,
            "limit_exceeded",
            "size",
        ),
        (ipm, {"prompt": "x", "n": 3}, 429, "rate_limit_exceeded", None),
    ]
    async with serve_with_database(make_config(keyed), engine) as client:
        assert (
            await post(client, models, {"model": "gpt-image-2", "prompt": "x"})
        ).status_code == 200
        for secret, body, status, code, param in cases:
            response = await post(client, secret, body)
            error = response.json()["error"]
            assert (response.status_code, error["code"], error["param"]) == (status, code, param)
        data_uri = "data:image/png;base64," + base64.b64encode(png_bytes((64, 64))).decode()
        edit = await client.post(
            "/v1/images/edits",
            headers=bearer(limited),
            json={
                "prompt": "x",
                "quality": "low",
                "size": "1024x1024",
                "images": [{"image_url": data_uri}] * 2,
            },
        )
        assert (edit.status_code, edit.json()["error"]["param"]) == (403, "image")
        assert (await post(client, rpm)).status_code == 200
        second = await post(client, rpm)
    assert second.status_code == 429 and second.headers["x-ratelimit-limit-requests"] == "1"
    assert second.headers["x-ratelimit-remaining-requests"] == "0"
    assert int(second.headers["retry-after"]) <= 60


async def test_a_key_sees_its_limits_spend_and_rate_state(
    make_config: MakeConfig, upstream: respx.MockRouter, engine: AsyncEngine
) -> None:
    upstream.post(GENERATIONS).mock(return_value=OK)
    team = await add_team(engine, "design", budget_nanos=5 * 10**9, budget_period="week")
    _, secret = await add_key(
        engine, "alice", team=team, budget_nanos=10**9, images_per_minute=20, max_n=4
    )
    async with serve_with_database(make_config(keyed), engine) as client:
        answer = await post(client, secret)
        assert answer.headers["x-imagegate-budget-remaining"] == "0.96"
        await settled(engine)
        view = (await client.get("/v1/key", headers=bearer(secret))).json()
    assert view["name"] == "alice" and view["limits"]["max_n"] == 4
    assert view["budget"] | {"period_start": 0} == {
        "usd": "1",
        "period": "month",
        "period_start": 0,
        "spent_usd": "0.04",
        "held_usd": "0",
        "remaining_usd": "0.96",
    }
    assert view["rate_limits"]["images_per_minute"]["used"] == 1
    assert view["team"]["name"] == "design" and view["team"]["budget"]["remaining_usd"] == "4.96"
