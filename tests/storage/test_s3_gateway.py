"""Generations and edits end to end with ``storage.backend: s3`` on a real S3-protocol server:
signed (presigned) URLs with their expiry, long expiries through gateway links that redirect,
proxy mode streamed by the gateway, and readiness."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlsplit

import orjson

from app.config import GatewayConfig
from tests.storage.conftest import fetch, gateway
from tests.support.images import png_bytes

MakeS3Config = Callable[..., GatewayConfig]
GENERATE = {"model": "offline", "prompt": "a kite"}


def completed_event(text: str) -> dict[str, object]:
    for frame in text.split("\n\n"):
        if frame.startswith("event: image_generation.completed\n"):
            event: dict[str, object] = orjson.loads(frame.partition("\ndata: ")[2])
            return event
    raise AssertionError(f"no completed event in {text!r}")


def local_path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


async def test_generations_and_edits_answer_presigned_urls_that_expire(
    s3_config: MakeS3Config, bucket: str
) -> None:
    async with gateway(s3_config(url_ttl="6h")) as client:
        before = int(time.time())
        generated = await client.post("/v1/images/generations", json={**GENERATE, "n": 2})
        edited = await client.post(
            "/v1/images/edits",
            data={"model": "offline", "prompt": "add a hat"},
            files={"image": ("cat.png", png_bytes(), "image/png")},
        )
        streamed = await client.post("/v1/images/generations", json={**GENERATE, "stream": True})
        ready = await client.get("/readyz")
    assert generated.status_code == 200 and edited.status_code == 200, edited.text
    items = [*generated.json()["data"], *edited.json()["data"], completed_event(streamed.text)]
    assert len(items) == 4
    for item in items:
        url = str(item["url"])
        assert f"/{bucket}/images/" in url and "X-Amz-Signature=" in url, url
        assert isinstance(item["expires_at"], int)
        assert before + 6 * 3600 <= item["expires_at"] <= int(time.time()) + 6 * 3600
        image = await fetch(url)  # a plain client, straight from the bucket
        assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
        assert image.headers["content-type"] == "image/png"
    assert ready.json()["checks"]["storage"] == "ok"


async def test_expiries_beyond_seven_days_redirect_to_a_fresh_presigned_url(
    s3_config: MakeS3Config,
) -> None:
    async with gateway(s3_config(url_ttl="30d")) as client:
        [item] = (await client.post("/v1/images/generations", json=GENERATE)).json()["data"]
        assert item["url"].startswith("http://gateway.test/images/")
        assert item["expires_at"] > time.time() + 29 * 86400
        redirect = await client.get(local_path(item["url"]))
        tampered = await client.get(local_path(item["url"]).replace("expires=", "expires=1"))
    assert redirect.status_code == 302 and redirect.headers["cache-control"] == "private, no-store"
    location = redirect.headers["location"]
    assert "X-Amz-Signature=" in location and "X-Amz-Expires=3600" in location
    image = await fetch(location)
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    assert tampered.status_code == 403 and tampered.json()["error"]["code"] == "invalid_signature"


async def test_proxy_mode_streams_the_object_through_the_gateway(
    s3_config: MakeS3Config,
) -> None:
    async with gateway(s3_config(url_mode="proxy")) as client:
        [item] = (await client.post("/v1/images/generations", json=GENERATE)).json()["data"]
        assert "expires_at" not in item and "?" not in item["url"]
        whole = await client.get(local_path(item["url"]))
        part = await client.get(local_path(item["url"]), headers={"range": "bytes=0-7"})
        head = await client.head(local_path(item["url"]))
        missing = await client.get("/images/AAAAAAAAAAAAAAAAAAAAAA.png")
    assert whole.status_code == 200 and whole.content.startswith(b"\x89PNG")
    assert whole.headers["cache-control"].endswith("immutable")
    assert part.status_code == 206 and part.content == b"\x89PNG\r\n\x1a\n"
    assert head.headers["content-length"] == str(len(whole.content))
    assert missing.status_code == 404


async def test_base64_answers_are_stored_and_replayed_from_the_bucket(
    s3_config: MakeS3Config,
) -> None:
    body = {**GENERATE, "response_format": "b64_json"}
    key = {"idempotency-key": "s3-replay"}
    async with gateway(s3_config()) as client:
        first = await client.post("/v1/images/generations", json=body, headers=key)
        replay = await client.post("/v1/images/generations", json=body, headers=key)
    assert replay.headers["x-imagegate-idempotent-replay"] == "true"
    assert replay.json()["data"] == first.json()["data"]
