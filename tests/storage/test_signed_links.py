"""Signed gateway image URLs (``/images/<id>.<fmt>?expires=..&sig=..``) through the app: they
work until they expire, a tampered or expired one is a 403 in the error envelope, an unsigned
one is refused when the deployment signs, and keys rotate with a grace period."""

from __future__ import annotations

import asyncio
import base64
import hmac
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from app.storage import urls
from app.storage.signing import KEY_FILE, Signer
from tests.storage.conftest import gateway
from tests.support.config import MakeConfig

OLD_KEY = "old-signing-key-0123456789"
NEW_KEY = "new-signing-key-0123456789"
GENERATE = {"model": "offline", "prompt": "a kite"}


def local_signed(make_config: MakeConfig, keys: list[str] | None = None, **storage: Any) -> Any:
    settings: dict[str, Any] = {"url_mode": "signed", "url_ttl": "12h", **storage}
    if keys is not None:
        settings["signing_keys"] = keys
    return make_config(lambda data: data["storage"].update(settings))


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "invalid_signature" and set(error) == {
        "message",
        "type",
        "param",
        "code",
    }


async def test_signed_urls_carry_their_expiry_and_work_until_then(make_config: MakeConfig) -> None:
    async with gateway(local_signed(make_config, [OLD_KEY])) as client:
        before = int(time.time())
        answer = (await client.post("/v1/images/generations", json=GENERATE)).json()
        [item] = answer["data"]
        image = await client.get(path_of(item["url"]))
    assert before + 12 * 3600 <= item["expires_at"] <= int(time.time()) + 12 * 3600
    assert parse_qs(urlsplit(item["url"]).query)["expires"] == [str(item["expires_at"])]
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    assert image.headers["cache-control"].startswith("private, max-age=")


async def test_tampered_missing_and_expired_signatures_are_refused(
    make_config: MakeConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with gateway(local_signed(make_config, [OLD_KEY])) as client:
        [item] = (await client.post("/v1/images/generations", json=GENERATE)).json()["data"]
        url = path_of(item["url"])
        bare = url.partition("?")[0]
        expires = item["expires_at"]
        later = url.replace(f"expires={expires}", f"expires={expires + 1}")
        sig = parse_qs(urlsplit(url).query)["sig"][0]
        flipped = url.replace(f"sig={sig}", f"sig={sig[:-1]}{'A' if sig[-1] != 'A' else 'B'}")
        other_image = url.replace(bare.rpartition("/")[2][:4], "AAAA", 1)
        for bad in (
            bare,
            later,
            flipped,
            f"{bare}?expires={expires}",
            f"{bare}?sig={sig}",
            f"{bare}?expires=-1&sig={sig}",
            f"{bare}?expires={'9' * 40}&sig={sig}",
            f"{bare}?expires=%C2%B2&sig={sig}",  # a superscript two: a digit to str.isdigit
            f"{bare}?expires={expires}&sig=%C3%A9{sig[1:]}",  # not ASCII
            f"{bare}?expires={expires}&sig=",
        ):
            assert_refused(await client.get(bad))
        assert (await client.get(other_image)).status_code in (403, 404)
        assert (await client.get(url)).status_code == 200
        monkeypatch.setattr(urls, "wall_clock", lambda: expires + 1.0)  # frozen past the expiry
        expired = await client.get(url)
    assert_refused(expired)
    assert "expired" in expired.json()["error"]["message"]


async def test_public_mode_serves_unsigned_urls_without_expiry(make_config: MakeConfig) -> None:
    async with gateway(make_config()) as client:
        [item] = (await client.post("/v1/images/generations", json=GENERATE)).json()["data"]
        assert "expires_at" not in item and "?" not in item["url"]
        assert (await client.get(path_of(item["url"]))).status_code == 200
    assert not (make_config().storage.directory / KEY_FILE).exists()  # no key made unless used


async def test_a_rotated_key_still_verifies_during_its_grace_period(
    make_config: MakeConfig,
) -> None:
    async with gateway(local_signed(make_config, [OLD_KEY])) as client:
        [item] = (await client.post("/v1/images/generations", json=GENERATE)).json()["data"]
    old_url = path_of(item["url"])
    async with gateway(local_signed(make_config, [NEW_KEY, OLD_KEY])) as client:
        assert (await client.get(old_url)).status_code == 200  # signed by the old key
        [fresh] = (await client.post("/v1/images/generations", json=GENERATE)).json()["data"]
    async with gateway(local_signed(make_config, [NEW_KEY])) as client:
        assert_refused(await client.get(old_url))  # the old key is gone: its URLs end
        assert (await client.get(path_of(fresh["url"]))).status_code == 200


async def test_without_keys_one_is_generated_and_kept_for_restarts(make_config: MakeConfig) -> None:
    config = local_signed(make_config)
    async with gateway(config) as client:
        [item] = (await client.post("/v1/images/generations", json=GENERATE)).json()["data"]
    key_file = config.storage.directory / KEY_FILE
    assert key_file.stat().st_mode & 0o777 == 0o600 and len(key_file.read_bytes()) >= 32
    async with gateway(config) as client:  # a restart (or a replica sharing the directory)
        assert (await client.get(path_of(item["url"]))).status_code == 200


def test_signatures_bind_the_file_and_the_expiry() -> None:
    signer = Signer([b"k" * 32])
    sig = signer.sign("abc.png", 100)
    assert signer.verify("abc.png", 100, sig)
    assert not signer.verify("abc.png", 101, sig)
    assert not signer.verify("abd.png", 100, sig)
    assert not Signer([b"j" * 32]).verify("abc.png", 100, sig)
    assert Signer([b"j" * 32, b"k" * 32]).verify("abc.png", 100, sig)


@pytest.mark.parametrize("key", [b"k" * 32, b"x" * 64, b"long-" * 40])
def test_signatures_are_standard_hmac_sha256(key: bytes) -> None:
    expected = hmac.digest(key, b"abc.png\n1764176400", "sha256")[:16]
    signature = Signer([key]).sign("abc.png", 1764176400)
    assert base64.urlsafe_b64decode(signature + "==") == expected


async def test_async_job_results_carry_expires_at_too(make_config: MakeConfig) -> None:
    async with gateway(local_signed(make_config, [OLD_KEY])) as client:
        accepted = await client.post(
            "/v1/images/generations", json=GENERATE, headers={"prefer": "respond-async"}
        )
        for _ in range(200):
            job = (await client.get(path_of(accepted.json()["status_url"]))).json()
            if job["status"] == "succeeded":
                break
            await asyncio.sleep(0.02)
        [item] = job["result"]["data"]
        fetched = await client.get(path_of(item["url"]))
    assert item["expires_at"] > time.time() and "sig=" in item["url"]
    assert fetched.status_code == 200
