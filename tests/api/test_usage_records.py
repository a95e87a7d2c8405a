"""The record stage through the API: exactly one usage record per request, in every response
mode, on success and on failure, with the flags that say how the request went."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Iterator

import httpx
import pytest
import respx

from app.domain import UsageRecord
from tests.support.app import serve_in_process
from tests.support.config import UPSTREAM, MakeConfig
from tests.support.images import png_bytes
from tests.support.waiting import HeldAnswer, eventually

GENERATIONS = f"{UPSTREAM}/images/generations"
PNG = png_bytes((16, 16))
USAGE = {"input_tokens": 7, "output_tokens": 70, "total_tokens": 77}
OK = httpx.Response(
    200,
    json={
        "created": 1,
        "size": "1024x1024",
        "data": [{"b64_json": base64.b64encode(PNG).decode()}],
        "usage": USAGE,
    },
)
FAILED = httpx.Response(500, json={"error": {"message": "boom"}})


@pytest.fixture
def usage(caplog: pytest.LogCaptureFixture) -> Iterator[list[UsageRecord]]:
    """Every usage record the log sink writes during the test, as records (not text)."""
    caplog.set_level(logging.INFO, logger="imagegate.usage")
    records: list[UsageRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.__dict__["usage"])

    handler = Collect()
    logging.getLogger("imagegate.usage").addHandler(handler)
    yield records
    logging.getLogger("imagegate.usage").removeHandler(handler)


def fast(data: dict) -> None:
    data["streaming"] = {"keepalive_interval": 0.05, "first_event_wait": 0.05}
    data["routing"]["cooldown"] = {"failures": 100, "window": 60, "duration": 1}
    data["auth"] = {"keys": ["gk-1"]}


AUTH = {"authorization": "Bearer gk-1"}


async def settle(usage: list[UsageRecord], count: int) -> None:
    await eventually(lambda: len(usage) >= count, what=f"{count} usage records")
    await asyncio.sleep(0.05)  # and no second record arrives late (the exit checks again)


@pytest.mark.parametrize(
    ("mode", "headers"),
    [
        ("plain", {}),
        ("keepalive", {"x-imagegate-keepalive": "1"}),
        ("stream", {}),
        ("async", {"prefer": "respond-async"}),
    ],
)
@pytest.mark.parametrize("succeeds", [True, False])
async def test_one_record_per_request_in_every_mode(
    make_config: MakeConfig,
    upstream: respx.MockRouter,
    usage: list[UsageRecord],
    mode: str,
    headers: dict[str, str],
    succeeds: bool,
) -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.15)  # longer than a keep-alive interval
        return OK if succeeds else FAILED

    upstream.post(GENERATIONS).mock(side_effect=slow)
    body = {"prompt": "x", "stream": mode == "stream"}
    async with serve_in_process(make_config(fast)) as client:
        response = await client.post(
            "/v1/images/generations",
            json=body,
            headers={**AUTH, **headers, "x-request-id": "rec-1"},
        )
        assert response.status_code in (200, 202, 502), response.text
        await settle(usage, 1)
    assert len(usage) == 1, usage
    record = usage[0]
    assert record.request_id == "rec-1" and record.model == "gpt-image-2"
    assert record.principal_id.startswith("key_")
    assert (record.stream, record.async_job) == (mode == "stream", mode == "async")
    assert not record.replay and not record.client_gone
    if succeeds:
        assert record.outcome == "succeeded" and record.error_code is None
        assert record.carrier == "up" and record.attempts == ("up:200",)
        assert record.images == 1 and record.output_bytes == len(PNG)
        assert record.input_tokens == 7 and record.output_tokens == 70
        assert (
            record.pixels == 1024 * 1024 and record.cost_nanos is not None and record.cost_nanos > 0
        )
    else:
        assert record.outcome == "failed" and record.error_code == "upstream_error"
        assert record.carrier is None and set(record.attempts) == {"up:500"}  # retries vary by mode
    assert record.latency >= 0.15


async def test_a_replay_is_recorded_as_one_free_replay(
    make_config: MakeConfig, upstream: respx.MockRouter, usage: list[UsageRecord]
) -> None:
    route = upstream.post(GENERATIONS).mock(return_value=OK)
    headers = {**AUTH, "idempotency-key": "k"}
    async with serve_in_process(make_config(fast)) as client:
        for _ in range(2):
            await client.post("/v1/images/generations", json={"prompt": "x"}, headers=headers)
        await settle(usage, 2)
    assert route.call_count == 1
    first, again = usage
    assert not first.replay and first.cost_nanos is not None and first.cost_nanos > 0
    assert again.replay and again.cost_nanos == 0 and again.carrier == "up" and again.attempts == ()


async def test_a_repeated_async_request_is_recorded_once_more_as_a_replay(
    make_config: MakeConfig, upstream: respx.MockRouter, usage: list[UsageRecord]
) -> None:
    upstream.post(GENERATIONS).mock(return_value=OK)
    headers = {**AUTH, "idempotency-key": "k", "prefer": "respond-async"}
    async with serve_in_process(make_config(fast)) as client:
        for _ in range(2):
            await client.post("/v1/images/generations", json={"prompt": "x"}, headers=headers)
        await settle(usage, 2)
    assert sorted((r.replay, r.outcome, r.async_job) for r in usage) == [
        (False, "succeeded", True),
        (True, "succeeded", True),
    ]


async def test_a_refused_request_is_recorded(
    make_config: MakeConfig, upstream: respx.MockRouter, usage: list[UsageRecord]
) -> None:
    headers = {**AUTH, "prefer": "respond-async"}
    async with serve_in_process(make_config(fast)) as client:
        response = await client.post(
            "/v1/images/generations", json={"prompt": "x", "stream": True}, headers=headers
        )
        await settle(usage, 1)
    assert response.status_code == 400
    assert [(r.outcome, r.error_code) for r in usage] == [("failed", "invalid_value")]


async def test_a_client_that_leaves_gets_one_record_when_the_work_ends(
    make_config: MakeConfig, upstream: respx.MockRouter, usage: list[UsageRecord]
) -> None:
    held = HeldAnswer(OK)
    upstream.post(GENERATIONS).mock(side_effect=held)
    async with serve_in_process(make_config(fast)) as client:
        await held.leave(client.post("/v1/images/generations", json={"prompt": "x"}, headers=AUTH))
        assert usage == []  # the work goes on: nothing is recorded yet
        held.release.set()
        await settle(usage, 1)
    assert len(usage) == 1
    assert usage[0].outcome == "succeeded" and usage[0].client_gone


async def test_the_access_log_names_the_carrier_from_the_request_not_the_headers(
    make_config: MakeConfig, upstream: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="imagegate.access")
    upstream.post(GENERATIONS).mock(return_value=OK)
    async with serve_in_process(make_config(fast)) as client:
        await client.post("/v1/images/generations", json={"prompt": "x"}, headers=AUTH)
        await client.post(
            "/v1/images/generations", json={"prompt": "x", "model": "offline"}, headers=AUTH
        )
    lines = [r.getMessage() for r in caplog.records if r.name == "imagegate.access"]
    assert lines[0].endswith("carrier=up") and lines[1].endswith("carrier=local")


async def test_an_async_job_refused_by_its_key_is_recorded(
    make_config: MakeConfig, upstream: respx.MockRouter, usage: list[UsageRecord]
) -> None:
    upstream.post(GENERATIONS).mock(return_value=OK)
    headers = {**AUTH, "idempotency-key": "k"}
    async with serve_in_process(make_config(fast)) as client:
        await client.post("/v1/images/generations", json={"prompt": "x"}, headers=headers)
        job = await client.post(
            "/v1/images/generations",
            json={"prompt": "another"},
            headers={**headers, "prefer": "respond-async"},
        )
        await settle(usage, 2)
    assert job.status_code == 202
    assert [(r.async_job, r.outcome, r.error_code) for r in usage] == [
        (False, "succeeded", None),
        (True, "failed", "idempotency_key_reused"),
    ]
