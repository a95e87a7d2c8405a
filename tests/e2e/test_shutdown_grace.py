"""SIGTERM to a real ``imagegate serve``: a request still waiting when ``server.request_grace``
ends gets the error envelope (503 ``shutting_down``, retryable) instead of a dropped connection,
and its work goes on: the image the upstream sends during the drain is still stored."""

from __future__ import annotations

import base64
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.support.databases import sqlite_database
from tests.support.gateway import RunningGateway, wait_until
from tests.support.images import png_bytes
from tests.support.upstream import FakeUpstream

PNG = png_bytes((20, 20), (5, 90, 160))
B64 = base64.b64encode(PNG).decode()


def error_event(text: str) -> dict[str, Any]:
    for frame in text.split("\n\n"):
        if frame.startswith("event: error\n"):
            data: dict[str, Any] = orjson.loads(frame.partition("\ndata: ")[2])
            return data
    raise AssertionError(f"no error event in {text!r}")


@pytest.mark.parametrize("stream", [False, True])
def test_a_request_outliving_the_grace_period_gets_503_and_its_image_is_kept(
    gateway_factory: Callable[..., RunningGateway],
    fake: FakeUpstream,
    tmp_path: Path,
    stream: bool,
) -> None:
    gate = fake.gate()
    answer = (
        (
            "event",
            "image_generation.completed",
            {"type": "image_generation.completed", "b64_json": B64},
        )
        if stream
        else ("json", 200, {"created": 1, "data": [{"b64_json": B64}]})
    )
    fake.script([("wait", gate), answer], path="/v1/images/generations")

    def edit(data: dict[str, Any]) -> None:
        data["server"].update(request_grace=1, shutdown_grace=30)
        data["streaming"] = {"first_event_wait": 0.2, "keepalive_interval": 0.5}
        data["carriers"][0].update(base_url=fake.base_url, retries=0)

    gateway = gateway_factory(edit)
    body = {"prompt": "a fox", "stream": stream}
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(
            httpx.post, f"{gateway.url}/v1/images/generations", json=body, timeout=30
        )
        assert gate.reached.wait(10), "the upstream never got the request"
        gateway.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        response = pending.result(timeout=20)
        answered = time.monotonic() - signalled
    if stream:  # headers went out before the grace ended: the stream ends with the envelope
        assert response.status_code == 200
        error = error_event(response.text)["error"]
    else:
        assert response.status_code == 503, response.text
        error = response.json()["error"]
        assert int(response.headers["retry-after"]) >= 1
        assert response.headers["x-should-retry"] == "true"
    assert (error["code"], error["type"]) == ("shutting_down", "server_error")
    assert 0.9 < answered < 5
    assert gateway.process.poll() is None, "the gateway should still be draining"
    gate.open()  # the upstream answers during the drain
    assert gateway.process.wait(timeout=30) in (0, -signal.SIGTERM)  # uvicorn re-raises it
    wait_until(lambda: "outcome=succeeded" in gateway.log(), what="the usage line")
    [stored] = list((tmp_path / "images").rglob("*.png"))
    assert stored.read_bytes() == PNG


def test_an_idempotent_retry_after_the_restart_finds_the_image_of_the_503(
    gateway_factory: Callable[..., RunningGateway], fake: FakeUpstream, tmp_path: Path
) -> None:
    """The request answered 503 at the grace period kept running, stored its image and its
    answer under its Idempotency-Key in the database: the retry after the restart gets that
    image, with no second upstream call."""
    gate = fake.gate()
    fake.script(
        [("wait", gate), ("json", 200, {"created": 1, "data": [{"b64_json": B64}]})],
        path="/v1/images/generations",
    )
    database = sqlite_database(tmp_path / "kept.sqlite3")  # both gateways, one after the other

    def edit(data: dict[str, Any]) -> None:
        data["server"].update(request_grace=1, shutdown_grace=30)
        data["database"] = {"url": database}
        data["carriers"][0].update(base_url=fake.base_url, retries=0)

    first = gateway_factory(edit)
    body = {"prompt": "a fox", "response_format": "b64_json"}
    headers = {"idempotency-key": "restart-1"}
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(
            httpx.post,
            f"{first.url}/v1/images/generations",
            json=body,
            headers=headers,
            timeout=30,
        )
        assert gate.reached.wait(10), "the upstream never got the request"
        first.process.send_signal(signal.SIGTERM)
        refused = pending.result(timeout=20)
    assert refused.status_code == 503, refused.text
    gate.open()
    assert first.process.wait(timeout=30) in (0, -signal.SIGTERM)

    second = gateway_factory(edit)
    retried = httpx.post(
        f"{second.url}/v1/images/generations", json=body, headers=headers, timeout=30
    )
    assert retried.status_code == 200, retried.text
    assert retried.headers["x-imagegate-idempotent-replay"] == "true"
    assert base64.b64decode(retried.json()["data"][0]["b64_json"]) == PNG
    assert len(fake.requests) == 1, "the retry called the upstream again"
