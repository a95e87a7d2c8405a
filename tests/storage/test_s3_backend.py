"""The S3 backend against a real S3-protocol server: put, read, find, stream, delete,
multipart uploads, and the URLs it mints (presigned GETs fetched with a plain HTTP client)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import obstore
import pytest

from app.errors import StorageFailed
from app.storage.s3 import PRESIGN_MAX, S3Storage
from tests.storage.conftest import fetch
from tests.support.images import png_bytes
from tests.support.s3 import S3Server

MakeS3 = Callable[..., S3Storage]


async def test_put_read_find_stream_and_delete(
    s3_storage: MakeS3, s3_server: S3Server, bucket: str
) -> None:
    storage = s3_storage()
    data = png_bytes()
    ref = await storage.put(data, "png")
    assert ref.byte_size == len(data)
    assert await storage.read(ref) == data
    assert await storage.find(ref.filename) == ref
    assert b"".join([c async for c in storage.stream(ref, 8, 24)]) == data[8:24]
    raw = await fetch(storage.presign(ref, 60))  # what a client fetches: the object, typed
    assert raw.content == data and raw.headers["content-type"] == "image/png"
    assert (await fetch(f"{s3_server.endpoint}/{bucket}/images/{ref.filename}")).status_code == 403
    await storage.delete(ref)
    await storage.delete(ref)  # already gone: not an error
    assert await storage.find(ref.filename) is None
    with pytest.raises(StorageFailed):
        await storage.read(ref)
    assert await storage.find("not-an-image.png") is None


async def test_large_objects_go_up_in_parts(s3_storage: MakeS3) -> None:
    storage = s3_storage(multipart_threshold=5 * 1024 * 1024)
    data = bytes(range(256)) * (11 * 4096)  # 11 MiB: three parts
    ref = await storage.put(data, "png")
    assert await storage.read(ref) == data
    meta = await obstore.head_async(storage.store, storage.key(ref))
    assert (meta["e_tag"] or "").strip('"').endswith("-3")  # a multipart ETag: <md5>-<parts>


async def test_signed_mode_mints_presigned_urls_a_plain_client_can_fetch(
    s3_storage: MakeS3,
) -> None:
    storage = s3_storage(url_ttl="2h")
    data = png_bytes()
    ref = await storage.put(data, "png")
    before = int(time.time())
    minted = storage.url(ref, "http://gateway.test")
    assert minted.expires_at is not None and before + 7200 <= minted.expires_at <= before + 7201
    assert "X-Amz-Signature=" in minted.url and "X-Amz-Expires=7200" in minted.url
    assert (await fetch(minted.url)).content == data
    # (moto does not check presigned signatures; the gateway's own are: test_signed_links.py)


async def test_beyond_seven_days_urls_are_signed_gateway_links(s3_storage: MakeS3) -> None:
    storage = s3_storage(url_ttl="30d")
    ref = await storage.put(png_bytes(), "png")
    minted = storage.url(ref, "http://gateway.test")
    assert minted.url.startswith(f"http://gateway.test/images/{ref.filename}?expires=")
    assert minted.expires_at is not None and minted.expires_at > time.time() + PRESIGN_MAX
    # a key's own policy overrides the deployment's, per call
    short = storage.url(ref, "http://gateway.test", ttl=60)
    assert "X-Amz-Expires=60" in short.url
    proxied = storage.url(ref, "http://gateway.test", mode="proxy")
    assert (
        proxied.url == f"http://gateway.test/images/{ref.filename}" and proxied.expires_at is None
    )


async def test_public_mode_urls_are_stable_bucket_or_cdn_urls(
    s3_storage: MakeS3, s3_server: S3Server, bucket: str
) -> None:
    storage = s3_storage(url_mode="public")
    ref = await storage.put(png_bytes(), "png")
    assert storage.url(ref, "http://gw") == (
        f"{s3_server.endpoint}/{bucket}/images/{ref.filename}",
        None,
    )
    cdn = s3_storage(url_mode="public", bucket_public_url="https://cdn.example/")
    assert cdn.url(ref, "http://gw").url == f"https://cdn.example/images/{ref.filename}"


async def test_health_needs_the_bucket(s3_storage: MakeS3) -> None:
    await s3_storage().health()
    with pytest.raises(Exception):  # noqa: B017 - whatever obstore raises for a missing bucket
        await s3_storage(bucket="no-such-bucket-here").health()


def test_only_the_s3_backend_imports_obstore() -> None:
    app = Path(__file__).resolve().parents[2] / "app"
    importers = {
        path.relative_to(app).as_posix()
        for path in app.rglob("*.py")
        if re.search(r"^\s*(import|from) obstore\b", path.read_text(), re.M)
    }
    assert importers == {"storage/s3.py"}
