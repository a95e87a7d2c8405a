"""An object store that is down, failing or slow: each store is retried within its deadline,
then the image is answered as base64 with ``"stored": false`` (never lost, never an upstream
URL), in bounded time; ``GET /readyz`` names the storage."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any

from app.config import GatewayConfig
from tests.storage.conftest import gateway
from tests.support.s3 import FaultyProxy, S3Server

MakeS3Config = Callable[..., GatewayConfig]
GENERATE = {"model": "offline", "prompt": "a kite"}
FAST_FAILING = {"timeout": 0.5, "put_deadline": 2}


def assert_unstored(answer: dict[str, Any]) -> None:
    [item] = answer["data"]
    assert "url" not in item and item["stored"] is False
    assert base64.b64decode(item["b64_json"]).startswith(b"\x89PNG")


async def test_a_server_that_stops_answers_base64_and_is_named_unready(
    s3_config: MakeS3Config, bucket: str
) -> None:
    server = S3Server()
    server.start()
    try:
        server.create_bucket(bucket)
        config = s3_config(endpoint_url=server.endpoint, **FAST_FAILING)
        async with gateway(config) as client:
            stored = (await client.post("/v1/images/generations", json=GENERATE)).json()
            server.stop()
            started = time.monotonic()
            down = await client.post("/v1/images/generations", json=GENERATE)
            took = time.monotonic() - started
            unready = await client.get("/readyz")
    finally:
        server.stop()
    assert "url" in stored["data"][0]
    assert down.status_code == 200 and took < 5
    assert_unstored(down.json())
    assert unready.status_code == 503 and unready.json()["failing"] == ["storage"]


async def test_transient_500s_are_retried_and_the_image_stored(
    s3_config: MakeS3Config, faulty: FaultyProxy
) -> None:
    async with gateway(s3_config(endpoint_url=faulty.endpoint, **FAST_FAILING)) as client:
        faulty.failures = 2
        answer = await client.post("/v1/images/generations", json=GENERATE)
    [item] = answer.json()["data"]
    assert "X-Amz-Signature=" in item["url"] and "stored" not in item
    assert faulty.seen == 3  # two 500s, then the store that worked


async def test_persistent_500s_answer_base64_unstored(
    s3_config: MakeS3Config, faulty: FaultyProxy
) -> None:
    async with gateway(s3_config(endpoint_url=faulty.endpoint, **FAST_FAILING)) as client:
        faulty.mode = "error"
        answer = await client.post("/v1/images/generations", json=GENERATE)
        as_b64 = await client.post(
            "/v1/images/generations", json={**GENERATE, "response_format": "b64_json"}
        )
        unready = await client.get("/readyz")
    assert answer.status_code == 200
    assert_unstored(answer.json())
    assert_unstored(as_b64.json())
    assert faulty.seen > 2  # retried before giving up
    assert unready.json()["checks"]["storage"].startswith("failed")


async def test_a_slow_server_is_cut_off_at_the_deadline(
    s3_config: MakeS3Config, faulty: FaultyProxy
) -> None:
    config = s3_config(endpoint_url=faulty.endpoint, timeout=0.3, put_deadline=1)
    async with gateway(config) as client:
        faulty.mode, faulty.delay = "slow", 10.0
        started = time.monotonic()
        answer = await client.post("/v1/images/generations", json=GENERATE)
        took = time.monotonic() - started
    assert answer.status_code == 200 and took < 7  # cut at the 1 s deadline, not after 10 s
    assert_unstored(answer.json())
