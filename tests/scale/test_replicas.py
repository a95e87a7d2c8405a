"""Three replicas on one PostgreSQL database and one Redis behave as one gateway: one upstream
call per Idempotency-Key, a budget never overspent, a cooldown decided on one replica honoured
by the others within a second, a rate limit counted once across all of them."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from functools import partial

import httpx
import pytest
import redis

from tests.scale.conftest import (
    DALLE,
    IMAGE_PRICE,
    Fleet,
    post,
    spread,
    start_fleet,
    wait_for,
)
from tests.support.redis import REDIS_URL, delete_prefix, machine_redis, unique_prefix
from tests.support.upstream import FakeUpstream, json_reply


@pytest.fixture(scope="module")
def fleet(
    tmp_path_factory: pytest.TempPathFactory, upstream: FakeUpstream, postgres_url: str
) -> Iterator[Fleet]:
    machine_redis().close()
    prefix = unique_prefix()
    options = {"url": REDIS_URL, "prefix": prefix, "timeout": 0.5}
    try:
        yield from start_fleet(tmp_path_factory.mktemp("replicas"), upstream, postgres_url,
                               [options] * 3)  # fmt: skip
    finally:
        delete_prefix(REDIS_URL, prefix)


def test_one_idempotency_key_over_three_replicas_makes_one_upstream_call(fleet: Fleet) -> None:
    secret = fleet.key()
    fleet.delay[0] = 0.5  # the first is still running when the others arrive
    calls = fleet.upstream_calls()
    send = partial(post, secret=secret, headers={"idempotency-key": "order-42"})
    try:
        responses = spread(fleet, 6, lambda url: send(url))
    finally:
        fleet.delay[0] = 0.05
    assert [r.status_code for r in responses] == [200] * 6
    assert fleet.upstream_calls() - calls == 1
    images = {httpx.URL(r.json()["data"][0]["url"]).path for r in responses}
    assert len(images) == 1  # one image for all (each replica links it from its own address)


def test_64_requests_over_three_replicas_against_a_budget_of_10_images(fleet: Fleet) -> None:
    secret = fleet.key(budget_nanos=10 * IMAGE_PRICE)
    calls = fleet.upstream_calls()
    responses = spread(fleet, 64, lambda url: post(url, secret))
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 10, 429: 54}
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 429} == {
        "insufficient_quota"
    }
    assert fleet.upstream_calls() - calls == 10


def carrier_state(url: str, secret: str, name: str) -> str:
    with httpx.Client(timeout=5) as client:
        listing = client.get(f"{url}/v1/carriers", headers={"authorization": f"Bearer {secret}"})
    return str(next(c["state"] for c in listing.json()["data"] if c["name"] == name))


def test_failures_on_one_replica_cool_the_carrier_on_the_others_within_a_second(
    fleet: Fleet,
) -> None:
    secret = fleet.key()
    fleet.upstream.route("/flaky/v1/images/generations", json_reply({"error": {}}, 500))
    a, b, c = fleet.replicas
    flaky = {**DALLE, "model": "flaky-model"}
    assert [post(a.url, secret, flaky).status_code for _ in range(2)] == [502, 502]
    decided = time.monotonic()
    assert carrier_state(a.url, secret, "flaky") == "cooling_down"
    for other in (b, c):

        def cooling(url: str = other.url) -> bool:
            return carrier_state(url, secret, "flaky") == "cooling_down"

        left = 1.0 - (time.monotonic() - decided)
        wait_for(cooling, within=left, what="the cooldown on another replica")
    calls = fleet.upstream_calls("/flaky/v1/images/generations")
    refused = post(c.url, secret, flaky)
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "carriers_cooling_down"
    assert fleet.upstream_calls("/flaky/v1/images/generations") == calls  # not even tried
    assert carrier_state(b.url, secret, "up") == "healthy"


def redis_seconds_into_minute() -> float:
    with redis.Redis.from_url(REDIS_URL) as client:
        seconds, micros = client.time()
    return float(seconds % 60 + micros / 1e6)


def test_a_key_limited_to_10_images_a_minute_gets_10_across_all_replicas(fleet: Fleet) -> None:
    secret = fleet.key(images_per_minute=10)
    into = redis_seconds_into_minute()
    if into > 50:  # all 30 requests in one minute window (the windows follow Redis's clock)
        time.sleep(60.2 - into)
    responses = spread(fleet, 30, lambda url: post(url, secret))
    assert Counter(r.status_code for r in responses) == {200: 10, 429: 20}
    refused = [r for r in responses if r.status_code == 429]
    assert {r.json()["error"]["code"] for r in refused} == {"rate_limit_exceeded"}
    assert {r.headers["x-ratelimit-limit-images"] for r in refused} == {"10"}
    left = 60 - redis_seconds_into_minute()  # retry-after: when the shared window ends
    assert all(abs(int(r.headers["retry-after"]) - left) <= 2 for r in refused)


def test_every_replica_says_at_start_what_is_shared(fleet: Fleet) -> None:
    for replica in fleet.replicas:
        assert "rate limits, concurrency, cooldowns and idempotency claims are shared in Redis" in (
            replica.log()
        )


def test_replicas_are_ready_with_redis(fleet: Fleet) -> None:
    for replica in fleet.replicas:
        ready = httpx.get(f"{replica.url}/readyz", timeout=5).json()
        assert ready["status"] == "ready" and ready["checks"]["redis"] == "ok"
