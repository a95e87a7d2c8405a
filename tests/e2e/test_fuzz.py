"""Property-based fuzzing of both endpoints against a real ``imagegate serve`` (offline: every
model on the ``local`` carrier): whatever arrives, the answer is never a 5xx, every 4xx is the
OpenAI error envelope, and it comes within ``BOUND`` seconds.

``make test`` runs a few examples per endpoint, the same ones each time. For a long, random run:
``IMAGEGATE_FUZZ_EXAMPLES=10000 .venv/bin/pytest tests/e2e/test_fuzz.py -x``.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.config import base_config, write_config
from tests.support.fuzz import edit_objects, hostile_json, json_content_types, objects
from tests.support.fuzz_multipart import Form, forms
from tests.support.gateway import RunningGateway, start_gateway, stop_gateway

BOUND = 30.0  # seconds for any one answer, a big offline render included
EXAMPLES = os.environ.get("IMAGEGATE_FUZZ_EXAMPLES")
FUZZ = settings(
    max_examples=int(EXAMPLES or 25),
    deadline=None,  # the bound is checked per request, on the wall clock
    derandomize=EXAMPLES is None,  # the default run is the same every time
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
ENVELOPE = {"message", "type", "param", "code"}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    """One offline gateway for the whole module; short fetch timeouts (no URL is reachable)."""
    directory = tmp_path_factory.mktemp("fuzz")
    data = base_config(directory)
    for model in data["models"]:
        model["carriers"] = [{"carrier": "local"}]
    data["fetch"] = {"timeout": 5, "connect_timeout": 2}
    started = start_gateway(write_config(directory, data), directory / "gateway.log")
    yield started
    stop_gateway(started)


@pytest.fixture(scope="module")
def http(gateway: RunningGateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=BOUND) as client:
        yield client


def post(http: httpx.Client, path: str, body: bytes, content_type: str) -> int:
    """Send one request and check what the gateway owes any client, whatever it sent."""
    headers = {"content-type": content_type} if content_type else {}
    started = time.monotonic()
    response = http.post(path, content=body, headers=headers)
    elapsed = time.monotonic() - started
    shown = f"{response.status_code} after {elapsed:.1f} s: {response.text[:300]!r}"
    assert response.status_code < 500, shown
    assert elapsed < BOUND, shown
    if response.status_code >= 400:
        envelope = orjson.loads(response.content)
        assert set(envelope) == {"error"} and set(envelope["error"]) == ENVELOPE, shown
        error: dict[str, Any] = envelope["error"]
        assert isinstance(error["message"], str) and error["message"], shown
        assert isinstance(error["type"], str), shown
        assert error["param"] is None or isinstance(error["param"], str), shown
        assert error["code"] is None or isinstance(error["code"], str), shown
    return response.status_code


def assert_sound(gateway: RunningGateway, statuses: Counter[int]) -> None:
    """Nothing went wrong inside the gateway, and the run reached both ends: images made
    (200) and requests refused (4xx), so the strategies are neither all junk nor all tame."""
    log = gateway.log()
    assert "Traceback" not in log and "unhandled error" not in log, log[-5000:]
    assert statuses[200] > 0 and sum(statuses[s] for s in range(400, 500)) > 0, statuses


def test_generations(gateway: RunningGateway, http: httpx.Client) -> None:
    @FUZZ
    @given(body=hostile_json(objects), content_type=json_content_types)
    def one(body: bytes, content_type: str) -> None:
        statuses[post(http, "/v1/images/generations", body, content_type)] += 1

    statuses: Counter[int] = Counter()
    one()
    assert_sound(gateway, statuses)


def test_json_edits(gateway: RunningGateway, http: httpx.Client) -> None:
    @FUZZ
    @given(body=hostile_json(edit_objects), content_type=json_content_types)
    def one(body: bytes, content_type: str) -> None:
        statuses[post(http, "/v1/images/edits", body, content_type)] += 1

    statuses: Counter[int] = Counter()
    one()
    assert_sound(gateway, statuses)


def test_multipart_edits(gateway: RunningGateway, http: httpx.Client) -> None:
    @FUZZ
    @given(form=forms(), path=st.sampled_from(["/v1/images/edits", "/v1/openai/images/edits"]))
    def one(form: Form, path: str) -> None:
        statuses[post(http, path, form.body, form.content_type)] += 1

    statuses: Counter[int] = Counter()
    one()
    assert_sound(gateway, statuses)
