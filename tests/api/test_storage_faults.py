"""Storage faults lose nothing: with a full or unusable image store, ``url`` and ``b64_json``
clients (plain, streamed, async) still get their image as base64 marked ``"stored": false``,
and the log has one clear error line per request, no traceback. A spool directory that cannot
take an upload is a 503 envelope with ``retry-after``, not a 500."""

from __future__ import annotations

import asyncio
import base64
import errno
import io
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import respx
from PIL import Image

from app.config import StorageConfig
from app.domain import ImageFormat, StoredRef
from app.errors import StorageFailed
from app.storage import BACKENDS, Backend, LocalStorage
from tests.support.app import serve_in_process
from tests.support.config import MakeConfig

OFFLINE = {"model": "offline", "prompt": "a kite", "size": "1024x1024"}


class FullDisk(LocalStorage):
    """A storage double whose every write fails as a full disk does."""

    def __init__(self, config: StorageConfig) -> None:
        super().__init__(config.directory)

    async def put(self, data: bytes, fmt: ImageFormat) -> StoredRef:
        raise StorageFailed("could not store the image (No space left on device)")


def error_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


def completed(stream_text: str) -> dict[str, Any]:
    for frame in stream_text.split("\n\n"):
        if frame.startswith("event: image_generation.completed\n"):
            data: dict[str, Any] = orjson.loads(frame.partition("\ndata: ")[2])
            return data
    raise AssertionError(f"no completed event in {stream_text!r}")


async def answers(client: httpx.AsyncClient) -> dict[str, Any]:
    """The image data item of each mode: url, b64_json, streamed, and an async job."""
    plain = await client.post("/v1/images/generations", json=OFFLINE)
    as_b64 = await client.post(
        "/v1/images/generations", json={**OFFLINE, "response_format": "b64_json"}
    )
    streamed = await client.post("/v1/images/generations", json={**OFFLINE, "stream": True})
    accepted = await client.post(
        "/v1/images/generations", json=OFFLINE, headers={"prefer": "respond-async"}
    )
    for _ in range(300):
        job = (await client.get(accepted.json()["status_url"])).json()
        if job["status"] in ("succeeded", "failed"):
            break
        await asyncio.sleep(0.02)
    assert [plain.status_code, as_b64.status_code, streamed.status_code] == [200, 200, 200]
    return {
        "url": plain.json()["data"][0],
        "b64_json": as_b64.json()["data"][0],
        "stream": completed(streamed.text),
        "job": job["result"]["data"][0],
    }


def assert_delivered_unstored(items: dict[str, Any]) -> None:
    for mode, item in items.items():
        assert item["stored"] is False, mode
        assert "url" not in item, mode
        png = base64.b64decode(item["b64_json"])
        assert Image.open(io.BytesIO(png)).size == (1024, 1024), mode


async def test_a_full_store_still_delivers_every_image(
    make_config: MakeConfig,
    upstream: respx.MockRouter,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setitem(BACKENDS, "full", Backend(FullDisk))
    config = make_config(lambda data: data["storage"].update(backend="full"))
    caplog.set_level(logging.INFO)
    async with serve_in_process(config) as client:
        items = await answers(client)
    assert_delivered_unstored(items)
    errors = error_lines(caplog)
    assert len(errors) == 4  # one per request
    for record in errors:
        assert "storage failed" in record.getMessage()
        assert "No space left on device" in record.getMessage()
        assert record.exc_info is None


async def test_a_store_directory_replaced_by_a_file_still_delivers(
    make_config: MakeConfig, upstream: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config()
    async with serve_in_process(config) as client:
        shutil.rmtree(config.storage.directory)
        config.storage.directory.write_bytes(b"not a directory")
        items = await answers(client)
    assert_delivered_unstored(items)
    assert len(error_lines(caplog)) == 4
    assert "Not a directory" in error_lines(caplog)[0].getMessage()


async def test_a_disk_that_fills_up_mid_write_still_delivers(
    make_config: MakeConfig,
    upstream: respx.MockRouter,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = make_config()
    root = str(config.storage.directory.resolve())
    real_write = os.write

    def full(fd: int, data: Any) -> int:
        if os.readlink(f"/proc/self/fd/{fd}").startswith(root):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", full)
    async with serve_in_process(config) as client:
        items = await answers(client)
    assert_delivered_unstored(items)
    assert len(error_lines(caplog)) == 4
    assert [p for p in config.storage.directory.rglob("*") if p.is_file()] == []  # no debris


def big_png() -> bytes:
    out = io.BytesIO()
    Image.effect_noise((128, 128), 80).convert("RGB").save(out, "PNG")
    return out.getvalue()


def spooling(data: dict[str, Any], directory: Path) -> None:
    data["server"].update(spool_directory=str(directory), spool_threshold_bytes=1024)


async def edit(client: httpx.AsyncClient) -> httpx.Response:
    return await client.post(
        "/v1/images/edits",
        data={"model": "offline", "prompt": "add a hat"},
        files=[("image", ("cat.png", big_png(), "image/png"))],
    )


async def test_a_spool_directory_that_is_a_file_is_a_503(
    make_config: MakeConfig,
    upstream: respx.MockRouter,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    blocker = tmp_path / "spool"
    blocker.write_bytes(b"")
    async with serve_in_process(make_config(lambda data: spooling(data, blocker))) as client:
        response = await edit(client)
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "insufficient_storage"
    assert int(response.headers["retry-after"]) > 0
    [line] = error_lines(caplog)
    assert "cannot spool an upload" in line.getMessage() and str(blocker) in line.getMessage()


async def test_a_full_spool_disk_is_a_503(
    make_config: MakeConfig,
    upstream: respx.MockRouter,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def dev_full(**options: Any) -> Any:  # every write fails with ENOSPC, from the kernel
        return open("/dev/full", "w+b", buffering=0)

    monkeypatch.setattr(tempfile, "TemporaryFile", dev_full)
    async with serve_in_process(make_config(lambda data: spooling(data, tmp_path))) as client:
        response = await edit(client)
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "insufficient_storage"
    assert "retry-after" in response.headers
