"""Models, image serving, health, auth, request ids and public URLs."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import respx

from tests.support.app import serve_in_process
from tests.support.config import MakeConfig


async def test_models_list_and_retrieve(client: httpx.AsyncClient) -> None:
    listing = (await client.get("/v1/models")).json()
    assert listing["object"] == "list"
    ids = [entry["id"] for entry in listing["data"]]
    assert {"gpt-image-2", "gi2", "dall-e-3", "offline"} <= set(ids)
    assert all(
        set(entry) == {"id", "object", "created", "owned_by"} and entry["object"] == "model"
        for entry in listing["data"]
    )
    one = await client.get("/v1/models/gi2")
    assert one.json()["id"] == "gi2"
    missing = await client.get("/v1/models/openai%2Fnope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"


async def test_model_ids_with_slashes(make_config: MakeConfig, upstream: respx.MockRouter) -> None:
    def slashed(data: dict) -> None:
        data["models"][0]["aliases"] = ["openai/gpt-image-2"]

    async with serve_in_process(make_config(slashed)) as c:
        assert (await c.get("/v1/models/openai/gpt-image-2")).json()["id"] == "openai/gpt-image-2"
        assert (await c.get("/v1/models/openai%2Fgpt-image-2")).json()["id"] == "openai/gpt-image-2"


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def _one_image(client: httpx.AsyncClient, fmt: str = "png") -> str:
    response = await client.post(
        "/v1/images/generations",
        json={"model": "offline", "prompt": "a kite", "output_format": fmt},
    )
    url: str = response.json()["data"][0]["url"]
    return url.removeprefix("http://gateway.test")


@pytest.mark.parametrize(
    ("fmt", "media_type"), [("png", "image/png"), ("jpeg", "image/jpeg"), ("webp", "image/webp")]
)
async def test_served_images_are_cacheable_and_support_ranges(
    client: httpx.AsyncClient, fmt: str, media_type: str
) -> None:
    path = await _one_image(client, fmt)
    full = await client.get(path)
    assert full.status_code == 200
    assert full.headers["content-type"] == media_type
    assert int(full.headers["content-length"]) == len(full.content)
    assert full.headers["cache-control"] == "public, max-age=31536000, immutable"
    etag = full.headers["etag"]
    head = await client.head(path)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == full.headers["content-length"]
    part = await client.get(path, headers={"range": "bytes=0-9"})
    assert part.status_code == 206 and part.content == full.content[:10]
    assert part.headers["content-range"] == f"bytes 0-9/{len(full.content)}"
    cached = await client.get(path, headers={"if-none-match": etag})
    assert cached.status_code == 304


@pytest.mark.parametrize(
    "path",
    [
        "/images/AAAAAAAAAAAAAAAAAAAAAA.png",
        "/images/..%2F..%2Fetc%2Fpasswd",
        "/images/../config/gateway.yaml",
        "/images/%2e%2e%2fgateway.yaml.png",
        "/images/short.png",
        "/images/AAAAAAAAAAAAAAAAAAAAAA.gif",
        "/images/AAAAAAAAAAAAAAAAAAAAAA",
    ],
)
async def test_unknown_images_are_404(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404


async def test_a_stored_image_is_not_served_under_another_extension(
    client: httpx.AsyncClient,
) -> None:
    path = await _one_image(client, "png")
    assert (await client.get(path.replace(".png", ".webp"))).status_code == 404


async def test_gateway_keys_are_required_when_configured(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> None:
    config = make_config(auth={"keys": ["gk-alpha", "gk-beta"]})
    async with serve_in_process(config) as c:
        missing = await c.get("/v1/models")
        wrong = await c.get("/v1/models", headers={"authorization": "Bearer gk-gamma"})
        right = await c.get("/v1/models", headers={"authorization": "Bearer gk-beta"})
        generation = await c.post(
            "/v1/images/generations", json={"model": "offline", "prompt": "x"}
        )
        health = await c.get("/healthz")
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "invalid_api_key"
    assert wrong.status_code == 401 and "gk-gamma" not in wrong.text
    assert right.status_code == 200
    assert generation.status_code == 401
    assert health.status_code == 200


async def test_request_ids_are_generated_or_echoed(client: httpx.AsyncClient) -> None:
    generated = await client.get("/healthz")
    assert generated.headers["x-request-id"].startswith("req_")
    echoed = await client.get("/healthz", headers={"x-request-id": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    unsafe = await client.get("/healthz", headers={"x-request-id": "a b<script>"})
    assert unsafe.headers["x-request-id"].startswith("req_")


async def test_forwarded_headers_only_from_trusted_proxies(
    make_config: MakeConfig, upstream: respx.MockRouter, tmp_path: Path
) -> None:
    body = {"model": "offline", "prompt": "x"}
    forwarded = {"x-forwarded-proto": "https", "x-forwarded-host": "img.example.com"}
    async with serve_in_process(make_config()) as c:
        untrusted = (await c.post("/v1/images/generations", json=body, headers=forwarded)).json()
    async with serve_in_process(make_config(server={"trusted_proxies": ["127.0.0.0/8"]})) as c:
        trusted = (await c.post("/v1/images/generations", json=body, headers=forwarded)).json()
    async with serve_in_process(
        make_config(
            storage={
                "directory": str(tmp_path / "img"),
                "public_base_url": "https://cdn.example.org/gw/",
            }
        )
    ) as c:
        fixed = (await c.post("/v1/images/generations", json=body, headers=forwarded)).json()
    assert untrusted["data"][0]["url"].startswith("http://gateway.test/images/")
    assert trusted["data"][0]["url"].startswith("https://img.example.com/images/")
    assert fixed["data"][0]["url"].startswith("https://cdn.example.org/gw/images/")


async def test_a_bad_host_header_does_not_end_up_in_urls(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/images/generations",
        json={"model": "offline", "prompt": "x"},
        headers={"host": "evil.com/phish?"},
    )
    assert "evil.com" not in response.json()["data"][0]["url"]
