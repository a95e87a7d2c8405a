"""No fake success: the offline ``local`` carrier serves a model only in offline mode (no real
carrier of the model enabled) or, where the route opts in (``offline_fallback``), after the
real ones failed, and then the answer says so. A rejected upstream key is loud: one ERROR line
naming the carrier and the variable, and ``key_rejected`` in ``GET /v1/carriers``."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import orjson
import pytest
import respx
from pydantic import SecretStr

from app.carriers import CARRIER_OPTIONS
from app.config import load_config
from tests.support.app import serve_in_process
from tests.support.config import ROOT, UPSTREAM, MakeConfig, base_config, write_config
from tests.support.databases import sqlite_database
from tests.support.routing import OK

GENERATIONS = f"{UPSTREAM}/images/generations"


def real_then_local(**local_route: Any):
    """``gpt-image-2`` served by the real carrier ``up``, then ``local``."""

    def edit(data: dict[str, Any]) -> None:
        data["models"][0]["carriers"] = [
            {"carrier": "up", "model": "upstream-gpt-image-2"},
            {"carrier": "local", **local_route},
        ]

    return edit


def completed(stream_text: str) -> dict[str, Any]:
    for frame in stream_text.split("\n\n"):
        if frame.startswith("event: image_generation.completed\n"):
            data: dict[str, Any] = orjson.loads(frame.partition("\ndata: ")[2])
            return data
    raise AssertionError(f"no completed event in {stream_text!r}")


async def test_local_never_silently_stands_in_for_a_failed_real_carrier(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> None:
    route = upstream.post(GENERATIONS).mock(return_value=httpx.Response(500))
    async with serve_in_process(make_config(real_then_local())) as client:
        response = await client.post("/v1/images/generations", json={"prompt": "a fox"})
    assert response.status_code == 502
    assert response.headers["x-imagegate-attempts"] == "up:500,up:500"
    assert route.call_count == 2


async def test_a_healthy_real_carrier_is_used_before_local_whatever_the_tiers(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> None:
    upstream.post(GENERATIONS).mock(return_value=OK)
    config = make_config(real_then_local(tier=1, offline_fallback=True))
    async with serve_in_process(config) as client:
        response = await client.post("/v1/images/generations", json={"prompt": "a fox"})
    assert response.headers["x-imagegate-carrier"] == "up"
    assert "offline_fallback" not in response.json()


async def test_an_opted_in_fallback_is_marked_in_header_body_and_stream(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> None:
    upstream.post(GENERATIONS).mock(return_value=httpx.Response(503))
    async with serve_in_process(make_config(real_then_local(offline_fallback=True))) as client:
        plain = await client.post("/v1/images/generations", json={"prompt": "a fox"})
        streamed = await client.post(
            "/v1/images/generations", json={"prompt": "a fox", "stream": True}
        )
    assert plain.status_code == 200, plain.text
    assert plain.headers["x-imagegate-carrier"] == "local"
    assert plain.headers["x-imagegate-attempts"] == "up:503,up:503,local:200"
    assert plain.json()["offline_fallback"] is True
    assert completed(streamed.text)["offline_fallback"] is True


async def test_offline_mode_serves_unmarked_and_says_so_once_at_start(
    make_config: MakeConfig, upstream: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    def no_key(data: dict[str, Any]) -> None:
        real_then_local()(data)
        data["carriers"][0]["api_key"] = ""  # disabled: gpt-image-2 runs offline

    caplog.set_level(logging.INFO)
    async with serve_in_process(make_config(no_key)) as client:
        response = await client.post("/v1/images/generations", json={"prompt": "a fox"})
    assert response.status_code == 200
    assert response.headers["x-imagegate-carrier"] == "local"
    assert "offline_fallback" not in response.json()
    [line] = [r.getMessage() for r in caplog.records if "offline mode" in r.getMessage()]
    assert line.endswith("gpt-image-2, dall-e-2, offline")


async def test_the_shipped_config_has_no_silent_fallback(
    upstream: respx.MockRouter, tmp_path: Any
) -> None:
    """With OPENAI_API_KEY set, gpt-image-2 fails when OpenAI fails; dall-e-3 runs offline."""
    env = {
        "OPENAI_API_KEY": "sk-shipped",
        "OPENAI_BASE_URL": "http://openai.test/v1",
        "IMAGEGATE_DATA_DIR": str(tmp_path / "images"),
    }
    shipped = load_config(ROOT / "config" / "gateway.yaml", env, CARRIER_OPTIONS)
    url = SecretStr(sqlite_database(tmp_path / "ig.db"))
    database = shipped.database.model_copy(update={"url": url})
    config = shipped.model_copy(update={"database": database})  # not the shipped ./data
    upstream.post("http://openai.test/v1/images/generations").mock(return_value=httpx.Response(500))
    async with serve_in_process(config) as client:
        failed = await client.post(
            "/v1/images/generations", json={"model": "gpt-image-2", "prompt": "x"}
        )
        offline = await client.post(
            "/v1/images/generations",
            json={"model": "dall-e-3", "prompt": "x", "response_format": "b64_json"},
        )
    assert failed.status_code == 502
    assert "local" not in failed.headers["x-imagegate-attempts"]
    assert offline.status_code == 200 and offline.headers["x-imagegate-carrier"] == "local"


async def test_a_rejected_key_is_loud_and_shown_in_the_carrier_list(
    tmp_path: Any, upstream: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    data = base_config(tmp_path)
    data["carriers"][0]["api_key"] = "${UP_API_KEY}"
    config = load_config(write_config(tmp_path, data), {"UP_API_KEY": "sk-wrong"}, CARRIER_OPTIONS)
    upstream.post(GENERATIONS).mock(
        return_value=httpx.Response(401, json={"error": {"message": "Incorrect API key"}})
    )
    async with serve_in_process(config) as client:
        response = await client.post("/v1/images/generations", json={"prompt": "a fox"})
        listing = (await client.get("/v1/carriers")).json()["data"]
    assert response.status_code == 502
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "KEY REJECTED" in errors[0] and "up" in errors[0] and "UP_API_KEY" in errors[0]
    [up] = [c for c in listing if c["name"] == "up"]
    assert up["state"] == "key_rejected"
    assert "rejected the gateway's API key (HTTP 401)" in up["last_error"]
