"""``IMAGEGATE_LOG_FORMAT=json``: a real gateway writes one JSON object per line, the usage line
with its fields, and never a secret, a prompt or base64."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.support.config import UPSTREAM_KEY
from tests.support.gateway import RunningGateway, stop_gateway

PROMPT = "prompt-canary-7d1e"


def refused_then_local(data: dict[str, Any]) -> None:
    """``up`` (holding the canary key) refuses connections; ``local`` then serves."""
    data["carriers"][0]["base_url"] = "http://127.0.0.1:9/v1"
    data["carriers"][0]["retries"] = 0
    for model in data["models"]:
        model["carriers"] = [{"carrier": "up"}, {"carrier": "local", "offline_fallback": True}]
        model["price"] = {"per_image": {"high": 0.25, "medium": 0.07, "low": 0.01, "auto": 0.07}}


def test_json_lines_carry_the_fields_and_no_secret(
    gateway_factory: Callable[..., RunningGateway],
) -> None:
    gateway = gateway_factory(refused_then_local, env={"IMAGEGATE_LOG_FORMAT": "json"})
    body = {"prompt": PROMPT, "size": "1024x1024", "response_format": "b64_json", "quality": "hd"}
    response = httpx.post(
        f"{gateway.url}/v1/images/generations",
        json=body,
        headers={"x-request-id": "json-1"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    b64 = response.json()["data"][0]["b64_json"]
    assert base64.b64decode(b64)
    time.sleep(0.2)
    stop_gateway(gateway)
    text = gateway.log()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]  # every line
    assert all({"time", "level", "logger", "request_id", "message"} <= set(x) for x in lines)
    [usage] = [x for x in lines if x["logger"] == "imagegate.usage"]
    assert usage["request_id"] == "json-1" and usage["model"] == "gpt-image-2"
    assert usage["carrier"] == "local" and usage["attempts"] == ["up:transient", "local:200"]
    assert usage["outcome"] == "succeeded" and usage["images"] == 1 and usage["latency_s"] > 0
    assert usage["key"] == "open" and usage["bytes"] > 0 and usage["pixels"] == 1024 * 1024
    assert usage["adjustments"] == ["quality: hd -> high"]
    assert usage["cost_usd"] == 0.25
    assert any(x["logger"] == "imagegate.access" and x["request_id"] == "json-1" for x in lines)
    for canary in (UPSTREAM_KEY, PROMPT, b64[:64]):
        assert canary not in text
