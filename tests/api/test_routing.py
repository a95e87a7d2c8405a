"""Routing through the app: fallback, cooldown, retry-after, deadlines, idempotency, disconnects."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from datetime import datetime
from typing import Any

import httpx
import pytest
import respx

from tests.support.app import serve_in_process
from tests.support.config import MakeConfig
from tests.support.images import png_bytes
from tests.support.routing import OK, PNG, A, B, two_carriers
from tests.support.waiting import HeldAnswer, eventually


async def generate(client: httpx.AsyncClient, **extra: Any) -> httpx.Response:
    headers = extra.pop("headers", {})
    return await client.post(
        "/v1/images/generations", json={"prompt": "a fox", **extra}, headers=headers
    )


@pytest.mark.parametrize(
    ("failure", "label"),
    [
        (httpx.Response(500), "a:500"),
        (httpx.Response(503), "a:503"),
        (httpx.ConnectError("refused"), "a:transient"),
        (httpx.ReadTimeout("slow"), "a:timeout"),
        (httpx.Response(401, json={"error": {"message": "bad key"}}), "a:401"),
        (
            httpx.Response(429, json={"error": {"code": "insufficient_quota", "message": "pay"}}),
            "a:429",
        ),
    ],
)
async def test_falls_back_to_the_next_carrier(
    make_config: MakeConfig, upstream: respx.MockRouter, failure: Any, label: str
) -> None:
    a = upstream.post(A).mock(side_effect=[failure])
    upstream.post(B).mock(return_value=OK)
    async with serve_in_process(make_config(two_carriers())) as client:
        response = await generate(client)
    assert response.status_code == 200
    assert response.headers["x-imagegate-carrier"] == "b"
    assert response.headers["x-imagegate-attempts"] == f"{label},b:200"
    assert a.call_count == 1


@pytest.mark.parametrize(
    "error",
    [
        {
            "message": "Invalid size",
            "type": "invalid_request_error",
            "param": "size",
            "code": "invalid_value",
        },
        {
            "message": "Your request was rejected by the safety system.",
            "type": "image_generation_user_error",
            "param": None,
            "code": "moderation_blocked",
        },
    ],
)
@pytest.mark.respx(assert_all_called=False)  # b is declared to show it is never called
async def test_no_fallback_after_a_refusal(
    make_config: MakeConfig, upstream: respx.MockRouter, error: dict
) -> None:
    upstream.post(A).mock(return_value=httpx.Response(400, json={"error": error}))
    b = upstream.post(B).mock(return_value=OK)
    async with serve_in_process(make_config(two_carriers(retries=2))) as client:
        response = await generate(client)
    assert response.status_code == 400
    assert response.json()["error"] == error
    assert response.headers["x-should-retry"] == "false"
    assert response.headers["x-imagegate-attempts"] == "a:400"
    assert not b.called


async def test_done_when_503_then_success_and_the_first_cools_down(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> None:
    a = upstream.post(A).mock(return_value=httpx.Response(503))
    upstream.post(B).mock(return_value=OK)
    async with serve_in_process(make_config(two_carriers(failures=1))) as client:
        first = await generate(client)
        second = await generate(client)
        carriers = (await client.get("/v1/carriers")).json()["data"]
    assert first.status_code == 200 and first.headers["x-imagegate-attempts"] == "a:503,b:200"
    assert second.status_code == 200 and second.headers["x-imagegate-attempts"] == "b:200"
    assert a.call_count == 1
    state = {c["name"]: c for c in carriers}
    assert state["a"]["state"] == "cooling_down"
    until = datetime.fromisoformat(state["a"]["cooling_until"]).timestamp()
    assert time.time() + 55 < until <= time.time() + 60  # a date: now plus the 60 s cooldown
    assert state["a"]["recent_failures"] == {"transient": 1}
    assert state["b"]["state"] == "healthy" and state["b"]["successes"] == 2


async def test_retries_the_same_carrier_before_moving_on(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> None:
    a = upstream.post(A).mock(
        side_effect=[httpx.Response(502), httpx.Response(429, headers={"retry-after-ms": "20"}), OK]
    )
    async with serve_in_process(make_config(two_carriers(retries=2, failures=5))) as client:
        started = time.monotonic()
        response = await generate(client)
    assert response.status_code == 200
    assert response.headers["x-imagegate-attempts"] == "a:502,a:429,a:200"
    assert a.call_count == 3
    assert time.monotonic() - started >= 0.02  # retry-after was honoured


async def test_all_rate_limited_is_a_429_with_retry_after(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> None:
    upstream.post(A).mock(return_value=httpx.Response(429, headers={"retry-after": "0.2"}))
    upstream.post(B).mock(return_value=httpx.Response(429, headers={"retry-after": "0.5"}))
    async with serve_in_process(make_config(two_carriers())) as client:
        response = await generate(client)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1" and response.headers["retry-after-ms"] == "200"
    assert response.headers["x-imagegate-attempts"] == "a:429,b:429"
    assert (
        "a:" in response.json()["error"]["message"] and "b:" in response.json()["error"]["message"]
    )


async def test_all_timed_out_is_a_504_and_mixed_is_a_502(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> None:
    upstream.post(A).mock(side_effect=httpx.ReadTimeout("slow"))
    upstream.post(B).mock(side_effect=httpx.ReadTimeout("slow"))
    async with serve_in_process(make_config(two_carriers(failures=9))) as client:
        assert (await generate(client)).status_code == 504
        upstream.post(B).mock(return_value=httpx.Response(500))
        mixed = await generate(client)
    assert mixed.status_code == 502
    assert mixed.json()["error"]["type"] == "upstream_error"


async def test_everything_cooling_down_is_a_503_with_retry_after(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> None:
    upstream.post(A).mock(return_value=httpx.Response(401))
    upstream.post(B).mock(return_value=httpx.Response(403))
    async with serve_in_process(make_config(two_carriers())) as client:
        assert (await generate(client)).status_code == 502
        cooling = await generate(client)
    assert cooling.status_code == 503
    assert cooling.json()["error"]["code"] == "carriers_cooling_down"
    assert int(cooling.headers["retry-after"]) >= 1
    assert "x-should-retry" not in cooling.headers


async def test_capability_filtering_routes_around_a_carrier(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> None:
    a = upstream.post(A).mock(return_value=OK)
    b = upstream.post(B).mock(return_value=OK)

    def a_rejects_transparency(data: dict) -> None:
        two_carriers()(data)
        data["models"][0]["carriers"][0]["overrides"] = {"backgrounds": ["auto", "opaque"]}

    async with serve_in_process(make_config(a_rejects_transparency)) as client:
        transparent = await generate(client, background="transparent")
        opaque = await generate(client, background="opaque")
    assert transparent.headers["x-imagegate-carrier"] == "b"
    assert opaque.headers["x-imagegate-carrier"] == "a"
    assert a.call_count == 1 and b.call_count == 1


async def test_weights_within_a_tier_spread_the_load(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> None:
    a = upstream.post(A).mock(return_value=OK)
    b = upstream.post(B).mock(return_value=OK)

    def weighted(data: dict) -> None:
        two_carriers()(data)
        data["models"][0]["carriers"] = [
            {"carrier": "a", "tier": 1, "weight": 3},
            {"carrier": "b", "tier": 1, "weight": 1},
        ]

    async with serve_in_process(make_config(weighted)) as client:
        for _ in range(200):
            await generate(client, response_format="b64_ephemeral")
    assert a.call_count + b.call_count == 200
    assert 0.65 <= a.call_count / 200 <= 0.85


@pytest.mark.respx(assert_all_called=False)  # respx records no call for a cancelled side effect
async def test_the_deadline_is_respected(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)  # far beyond the 0.3 s and 0.4 s deadlines, and the bounds below
        return OK

    upstream.post(A).mock(side_effect=slow)
    async with serve_in_process(make_config(two_carriers())) as client:
        started = time.monotonic()
        response = await generate(client, model="deadline")
        elapsed = time.monotonic() - started
        capped = time.monotonic()
        by_client = await generate(client, headers={"x-stainless-read-timeout": "0.4"})
        capped = time.monotonic() - capped
    assert response.status_code == 504 and elapsed < 10  # not the upstream's 30 s
    assert by_client.status_code == 504 and capped < 10


async def test_idempotent_replay_returns_the_same_images(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> None:
    a = upstream.post(A).mock(return_value=OK)
    async with serve_in_process(make_config(two_carriers())) as client:
        first = await generate(client, headers={"idempotency-key": "k1"})
        again = await generate(client, headers={"idempotency-key": "k1"})
        b64 = await generate(client, response_format="b64_json", headers={"idempotency-key": "k2"})
        b64_again = await generate(
            client, response_format="b64_json", headers={"idempotency-key": "k2"}
        )
        other_body = await generate(
            client, prompt="a different fox", headers={"idempotency-key": "k1"}
        )
    assert first.json()["data"] == again.json()["data"]
    assert again.headers["x-imagegate-idempotent-replay"] == "true"
    assert "x-imagegate-idempotent-replay" not in first.headers
    assert b64_again.json()["data"] == b64.json()["data"]
    assert base64.b64decode(b64_again.json()["data"][0]["b64_json"]) == PNG
    assert a.call_count == 2
    assert other_body.status_code == 409
    assert other_body.json()["error"]["code"] == "idempotency_key_reused"


async def test_concurrent_duplicates_cause_one_upstream_call(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.2)
        return OK

    a = upstream.post(A).mock(side_effect=slow)
    async with serve_in_process(make_config(two_carriers())) as client:
        responses = await asyncio.gather(
            *(generate(client, headers={"idempotency-key": "same"}) for _ in range(5))
        )
    assert a.call_count == 1
    urls = {r.json()["data"][0]["url"] for r in responses}
    assert len(urls) == 1 and all(r.status_code == 200 for r in responses)


async def test_failures_are_not_replayed(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> None:
    upstream.post(A).mock(side_effect=[httpx.Response(500), OK])
    upstream.post(B).mock(return_value=httpx.Response(500))
    async with serve_in_process(make_config(two_carriers(failures=9))) as client:
        failed = await generate(client, headers={"idempotency-key": "retry-me"})
        retried = await generate(client, headers={"idempotency-key": "retry-me"})
    assert failed.status_code == 502 and retried.status_code == 200


async def test_keys_are_scoped_to_the_caller(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> None:
    a = upstream.post(A).mock(return_value=OK)

    def keyed(data: dict) -> None:
        two_carriers()(data)
        data["auth"] = {"keys": ["gk-1", "gk-2"]}

    async with serve_in_process(make_config(keyed)) as client:
        for key in ("gk-1", "gk-2"):
            await generate(
                client, headers={"idempotency-key": "shared", "authorization": f"Bearer {key}"}
            )
    assert a.call_count == 2


async def test_a_client_that_leaves_still_gets_its_image_stored(
    make_config: MakeConfig, upstream: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    held = HeldAnswer(OK)
    upstream.post(A).mock(side_effect=held)
    config = make_config(two_carriers())
    async with serve_in_process(config) as client:
        headers = {"x-request-id": "gone-1"}
        await held.leave(
            client.post("/v1/images/generations", json={"prompt": "x"}, headers=headers)
        )
        held.release.set()
        await eventually(
            lambda: bool(list(config.storage.directory.rglob("*.png"))), what="the stored image"
        )
    assert [p.read_bytes() for p in config.storage.directory.rglob("*.png")] == [PNG]
    finished = [r.getMessage() for r in caplog.records if r.getMessage().startswith("usage ")]
    assert len(finished) == 1 and "request=gone-1" in finished[0]
    assert "outcome=succeeded" in finished[0] and "client_gone=true" in finished[0]


async def test_carriers_endpoint_needs_auth(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> None:
    async with serve_in_process(make_config(auth={"keys": ["gk"]})) as client:
        assert (await client.get("/v1/carriers")).status_code == 401
        listing = await client.get("/v1/carriers", headers={"authorization": "Bearer gk"})
    names = [c["name"] for c in listing.json()["data"]]
    assert names == ["up", "local"]
    assert "sk-test" not in listing.text


async def test_a_carrier_without_mask_support_is_skipped_for_masked_edits(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> None:
    a = upstream.post("http://a.test/v1/images/edits").mock(return_value=OK)
    b = upstream.post("http://b.test/v1/images/edits").mock(return_value=OK)

    def a_without_masks(data: dict) -> None:
        two_carriers()(data)
        data["carriers"][0]["edit"] = {"mask": False}

    image = png_bytes((64, 64))
    mask = png_bytes((64, 64), (0, 0, 0, 0), mode="RGBA")
    async with serve_in_process(make_config(a_without_masks)) as client:
        masked = await client.post(
            "/v1/images/edits",
            data={"prompt": "x"},
            files=[("image", ("a.png", image)), ("mask", ("m.png", mask))],
        )
        plain = await client.post(
            "/v1/images/edits", data={"prompt": "x"}, files=[("image", ("a.png", image))]
        )
    assert masked.status_code == 200, masked.text
    assert masked.headers["x-imagegate-carrier"] == "b"
    assert plain.headers["x-imagegate-carrier"] == "a"
    assert a.call_count == 1 and b.call_count == 1
