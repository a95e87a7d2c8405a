"""``imagegate storage migrate --to s3``: the local disk's images are copied into the bucket,
and the URLs handed out before (signed ones too) keep working once the gateway runs on S3."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from app.cli import main
from app.config import GatewayConfig
from app.db.engine import create_engine
from app.db.models import ImageRecord
from tests.storage.conftest import S3Settings, fetch, gateway
from tests.support.config import MakeConfig

GENERATE = {"model": "offline", "prompt": "a kite"}


async def backends_of(config: GatewayConfig, answers: list[dict[str, Any]]) -> list[str]:
    """Where the image index says each answered image lives."""
    engine = create_engine(config.database.url.get_secret_value())
    try:
        async with engine.connect() as connection:
            found = await connection.execute(select(ImageRecord.id, ImageRecord.backend))
            backend = {image_id: where for image_id, where in found.all()}
    finally:
        await engine.dispose()
    return [backend[urlsplit(a["url"]).path.rpartition("/")[2].partition(".")[0]] for a in answers]


def local_path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


async def test_migrated_images_keep_their_urls(
    make_config: MakeConfig, s3_settings: S3Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    def configured(backend: str) -> Callable[[dict[str, Any]], None]:
        return lambda data: data["storage"].update(s3_settings(backend=backend))

    local: GatewayConfig = make_config(configured("local"))  # signed mode, the same key
    async with gateway(local) as client:
        answers = [
            (await client.post("/v1/images/generations", json=GENERATE)).json()["data"][0]
            for _ in range(3)
        ]
        originals = [(await client.get(local_path(a["url"]))).content for a in answers]
    argv = ["storage", "migrate", "--to", "s3", "--config", str(local.source)]
    assert await asyncio.to_thread(main, argv) == 0
    out = capsys.readouterr().out
    assert "copied 3 image(s) to s3, 0 already there, 0 failed; 3 image index row(s)" in out
    assert await asyncio.to_thread(main, argv) == 0  # run again: nothing to copy or record
    out = capsys.readouterr().out
    assert "copied 0 image(s) to s3, 3 already there, 0 failed; 0 image index row(s)" in out
    assert await backends_of(local, answers) == ["s3", "s3", "s3"]

    on_s3: GatewayConfig = make_config(configured("s3"))
    async with gateway(on_s3) as client:
        redirects = [await client.get(local_path(a["url"])) for a in answers]
    for redirect, original in zip(redirects, originals, strict=True):
        assert redirect.status_code == 302
        assert (await fetch(redirect.headers["location"])).content == original


async def test_delete_local_removes_only_what_was_copied(
    make_config: MakeConfig, s3_settings: S3Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config(lambda data: data["storage"].update(s3_settings(backend="local")))
    async with gateway(config) as client:
        await client.post("/v1/images/generations", json=GENERATE)
    stray = config.storage.directory / "ab" / ".tmp-not-an-image.png"
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"partial")
    argv = ["storage", "migrate", "--to", "s3", "--delete-local", "--config", str(config.source)]
    assert await asyncio.to_thread(main, argv) == 0
    assert "copied 1 image(s)" in capsys.readouterr().out
    left = [p for p in config.storage.directory.rglob("*") if p.is_file() and p.suffix == ".png"]
    assert left == [stray]


async def test_an_unreachable_bucket_fails_the_migration(
    make_config: MakeConfig, s3_settings: S3Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = s3_settings(
        backend="local", endpoint_url="http://127.0.0.1:9", timeout=0.3, put_deadline=0.6
    )
    config = make_config(lambda data: data["storage"].update(settings))
    async with gateway(config) as client:
        await client.post("/v1/images/generations", json=GENERATE)
    argv = ["storage", "migrate", "--to", "s3", "--config", str(config.source)]
    assert await asyncio.to_thread(main, argv) == 1
    assert "0 already there, 1 failed" in capsys.readouterr().out
    assert len([p for p in config.storage.directory.rglob("*.png")]) == 1  # nothing removed
