"""``GET /metrics`` after known traffic: exact counter values, read with Prometheus' own parser."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx
from prometheus_client.parser import text_string_to_metric_families

from app.observability.metrics import size_class
from tests.support.app import serve_in_process
from tests.support.config import MakeConfig
from tests.support.routing import OK, PNG, A, B, two_carriers
from tests.support.waiting import poll_until

FAILED = httpx.Response(500, json={"error": {"message": "boom"}})
MODEL = "gpt-image-2"
Samples = list[tuple[str, dict[str, str], float]]


def parse(text: str) -> Samples:
    return [
        (s.name, s.labels, s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples named ``name`` whose labels include ``labels``."""
    return sum(
        v for n, ls, v in samples if n == name and all(ls.get(k) == w for k, w in labels.items())
    )


async def scrape(client: httpx.AsyncClient, **headers: str) -> Samples:
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(response.text)


async def generate(client: httpx.AsyncClient, headers: dict[str, str] | None = None, **body: Any):
    payload = {"prompt": "a fox", "size": "1024x1024", **body}
    return await client.post("/v1/images/generations", json=payload, headers=headers or {})


async def known_traffic(client: httpx.AsyncClient) -> None:
    """One of each: a plain success with an adjustment, a fallback, a failure, a stream and an
    async job, in this order (the upstream routes answer in this order too)."""
    adjusted = await generate(client, quality="hd", not_a_param=1)
    assert adjusted.status_code == 200, adjusted.text
    assert (await generate(client)).headers["x-imagegate-attempts"] == "a:500,a:500,b:200"
    assert (await generate(client)).status_code == 502
    streamed = await generate(client, stream=True)
    assert streamed.status_code == 200 and "image_generation.completed" in streamed.text
    accepted = await generate(client, headers={"prefer": "respond-async"})
    assert accepted.status_code == 202
    path = accepted.json()["status_url"].removeprefix("http://gateway.test")
    await poll_until(
        lambda: client.get(path), lambda job: job.json()["status"] == "succeeded", what="the job"
    )
    await poll_until(  # the job's record follows its result
        lambda: scrape(client),
        lambda samples: value(samples, "imagegate_requests_total") == 5,
        what="five requests recorded",
    )


def scripted(upstream: respx.MockRouter) -> None:
    upstream.post(A).mock(side_effect=[OK, FAILED, FAILED, FAILED, FAILED, OK, OK])
    upstream.post(B).mock(side_effect=[OK, FAILED, FAILED])


async def test_counters_after_known_traffic(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> None:
    scripted(upstream)
    async with serve_in_process(make_config(two_carriers(retries=1, failures=10))) as client:
        await known_traffic(client)
        samples = await scrape(client)

    def requests(**labels: str) -> float:
        return value(samples, "imagegate_requests_total", model=MODEL, **labels)

    ok = {"outcome": "succeeded", "error": "none", "endpoint": "generate"}
    assert requests() == 5
    assert requests(mode="sync", carrier="a", **ok) == 1
    assert requests(mode="sync", carrier="b", **ok) == 1  # the fallback
    assert requests(mode="stream", carrier="a", **ok) == 1
    assert requests(mode="async", carrier="a", **ok) == 1
    assert requests(mode="sync", carrier="none", outcome="failed", error="upstream_error") == 1
    images = {"model": MODEL, "quality": "high", "size_class": "medium"}
    assert value(samples, "imagegate_images_total", carrier="a", **images) == 1
    assert value(samples, "imagegate_images_total", carrier="a") == 3
    assert value(samples, "imagegate_images_total", carrier="b") == 1
    assert value(samples, "imagegate_output_pixels_total") == 4 * 1024 * 1024
    assert value(samples, "imagegate_output_bytes_total") == 4 * len(PNG)
    assert value(samples, "imagegate_unpriced_requests_total", model=MODEL) == 4
    assert value(samples, "imagegate_cost_usd_total") == 0
    # the fallback and the failure each retried a once, then fell back to b; the failure
    # retried b once too
    transient = {"model": MODEL, "failure_class": "transient"}
    assert value(samples, "imagegate_retries_total", carrier="a", **transient) == 2
    assert value(samples, "imagegate_retries_total", carrier="b", **transient) == 1
    fallback = {"from_carrier": "a", "to_carrier": "b", **transient}
    assert value(samples, "imagegate_fallbacks_total", **fallback) == 2
    assert value(samples, "imagegate_fallbacks_total") == 2
    adjusted = "imagegate_param_adjustments_total"
    assert value(samples, adjusted, model=MODEL, parameter="quality") == 1
    assert value(samples, adjusted, model=MODEL, parameter="other") == 1  # not_a_param: bounded
    attempts = "imagegate_upstream_attempt_duration_seconds_count"
    assert value(samples, attempts, carrier="a", model=MODEL, result="ok") == 3
    assert value(samples, attempts, carrier="a", result="transient") == 4
    assert value(samples, attempts, carrier="b", result="ok") == 1
    assert value(samples, attempts, carrier="b", result="transient") == 2
    assert value(samples, "imagegate_request_duration_seconds_count") == 5
    assert value(samples, "imagegate_request_duration_seconds_bucket", le="600.0") == 5
    assert value(samples, "imagegate_storage_errors_total") == 0
    assert value(samples, "imagegate_requests_in_flight") == 1  # the scrape itself
    responses = "imagegate_http_responses_total"
    assert value(samples, responses, endpoint="generations", status_class="2xx") == 4
    assert value(samples, responses, endpoint="generations", status_class="5xx") == 1
    jobs = {ls["state"]: v for n, ls, v in samples if n == "imagegate_async_jobs"}
    assert jobs == {"queued": 0, "running": 0, "succeeded": 1, "failed": 0}
    assert value(samples, "imagegate_carrier_circuit_state", carrier="a") == 0
    assert {"a", "b"} == {
        ls["carrier"] for n, ls, _ in samples if n == "imagegate_carrier_circuit_state"
    }


async def test_refusals_count_as_responses_with_bounded_endpoints(
    make_config: MakeConfig,
) -> None:
    async with serve_in_process(make_config()) as client:
        assert (await generate(client, n=99)).status_code == 400
        assert (await client.get("/no/such/path/abc123")).status_code == 404
        samples = await scrape(client)
    responses = "imagegate_http_responses_total"
    assert value(samples, responses, endpoint="generations", status_class="4xx") == 1
    assert value(samples, responses, endpoint="other", status_class="4xx") == 1
    assert value(samples, "imagegate_requests_total") == 0  # refused before any work
    assert all("abc123" not in str(labels) for _, labels, _ in samples)


async def test_no_request_id_prompt_or_key_in_any_label(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> None:
    upstream.post(A).mock(return_value=OK)
    async with serve_in_process(make_config(two_carriers(), auth={"keys": ["gk-1"]})) as client:
        headers = {"authorization": "Bearer gk-1", "x-request-id": "req-canary"}
        assert (await generate(client, headers, prompt="prompt-canary")).status_code == 200
        text = (await client.get("/metrics")).text
    assert "canary" not in text and "gk-1" not in text and "key_" not in text
    assert value(parse(text), "imagegate_requests_total") == 1


async def test_key_and_team_labels_when_the_operator_opts_in(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> None:
    upstream.post(A).mock(return_value=OK)
    config = make_config(two_carriers(), auth={"keys": ["gk-1"]}, metrics={"label_keys": True})
    async with serve_in_process(config) as client:
        assert (await generate(client, {"authorization": "Bearer gk-1"})).status_code == 200
        samples = await scrape(client)
    [labels] = [ls for n, ls, _ in samples if n == "imagegate_requests_total"]
    assert labels["key"].startswith("key_") and labels["team"] == "none"


async def test_the_metrics_token(make_config: MakeConfig) -> None:
    async with serve_in_process(make_config(metrics={"token": "scrape-secret"})) as client:
        assert (await client.get("/metrics")).status_code == 401
        wrong = await client.get("/metrics", headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 401
        await scrape(client, authorization="Bearer scrape-secret")


async def test_an_empty_token_asks_for_none(make_config: MakeConfig) -> None:
    async with serve_in_process(make_config(metrics={"token": ""})) as client:
        await scrape(client)


async def test_metrics_can_be_turned_off(make_config: MakeConfig) -> None:
    async with serve_in_process(make_config(metrics={"enabled": False})) as client:
        assert (await client.get("/metrics")).status_code == 404


@pytest.mark.parametrize(
    ("pixels", "images", "expected"),
    [
        (None, 1, "other"),
        (512 * 512, 1, "small"),
        (2 * 1024 * 1024, 2, "medium"),
        (1536 * 1024, 1, "large"),
        (4096 * 4096, 1, "xlarge"),
    ],
)
def test_size_classes(pixels: int | None, images: int, expected: str) -> None:
    assert size_class(pixels, images) == expected
