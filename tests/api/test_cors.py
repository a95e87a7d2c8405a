"""CORS: off by default; with ``server.cors_origins``, preflights from allowed and other origins,
and error answers that carry the CORS headers too."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import respx

from app.config.loader import ConfigError
from tests.support.app import serve_in_process
from tests.support.config import MakeConfig

APP = "https://app.example"
PREFLIGHT = {
    "origin": APP,
    "access-control-request-method": "POST",
    "access-control-request-headers": "authorization, content-type, x-stainless-lang",
}


@pytest.fixture
async def cors_client(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> AsyncIterator[httpx.AsyncClient]:
    def allow_app(data: dict) -> None:
        data["server"]["cors_origins"] = [APP]

    async with serve_in_process(make_config(allow_app)) as c:
        yield c


async def test_a_preflight_from_an_allowed_origin_is_answered(
    cors_client: httpx.AsyncClient,
) -> None:
    response = await cors_client.options("/v1/images/generations", headers=PREFLIGHT)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed_headers = response.headers["access-control-allow-headers"].lower()
    assert {"authorization", "content-type", "x-stainless-lang"} <= {
        h.strip() for h in allowed_headers.split(",")
    }


async def test_a_preflight_from_another_origin_is_refused_in_the_envelope(
    cors_client: httpx.AsyncClient,
) -> None:
    headers = {**PREFLIGHT, "origin": "https://evil.example"}
    response = await cors_client.options("/v1/images/generations", headers=headers)
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers
    error = response.json()["error"]
    assert error["code"] == "cors_not_allowed" and "origin" in error["message"]


async def test_error_answers_carry_the_cors_headers(cors_client: httpx.AsyncClient) -> None:
    origin = {"origin": APP}
    bad = await cors_client.post("/v1/images/generations", json={"n": 1}, headers=origin)
    missing = await cors_client.get("/v1/models/nope", headers=origin)
    wrong_method = await cors_client.delete("/healthz", headers=origin)
    for response in (bad, missing, wrong_method):
        assert response.status_code in (400, 404, 405)
        assert response.headers["access-control-allow-origin"] == APP
        assert "x-request-id" in response.headers["access-control-expose-headers"]
        assert "error" in response.json()
    other = await cors_client.get("/healthz", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


async def test_cors_is_off_by_default(client: httpx.AsyncClient) -> None:
    preflight = await client.options("/v1/images/generations", headers=PREFLIGHT)
    assert preflight.status_code == 405
    assert "access-control-allow-origin" not in preflight.headers
    plain = await client.get("/healthz", headers={"origin": APP})
    assert "access-control-allow-origin" not in plain.headers


@pytest.mark.parametrize("origin", ["app.example", "https://app.example/", "ftp://x", ""])
def test_cors_origins_must_be_origins(make_config: MakeConfig, origin: str) -> None:
    def bad(data: dict) -> None:
        data["server"]["cors_origins"] = [origin]

    with pytest.raises(ConfigError, match="cors_origins: .* is not '\\*' or an origin"):
        make_config(bad)
