"""Rehoster: small images decoded and stored on the event loop, large ones decoded in a thread,
same results either way; what to store and what to hand back is decided here, not in storage."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.config import FetchConfig, StorageConfig
from app.domain import StoredImage, UpstreamImage
from app.errors import StorageFailed
from app.inputs.fetch import SafeFetcher
from app.run.rehost import INLINE_DECODE_BYTES, NotAnImage, Rehoster
from app.storage.local import LocalStorage
from tests.support.images import padded_png


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path)


@pytest.fixture
def threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the functions sent to a worker thread (they still run there)."""
    sent: list[str] = []
    real = asyncio.to_thread

    async def recording(func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        sent.append(func.__name__)
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(asyncio, "to_thread", recording)
    return sent


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


async def keep(storage: Any, image: UpstreamImage, response_format: Any) -> StoredImage:
    rehoster = Rehoster(storage, SafeFetcher(FetchConfig()), StorageConfig())
    return await rehoster.keep(image, response_format)


@pytest.mark.parametrize(
    ("size", "hops"), [(1000, []), (INLINE_DECODE_BYTES * 4, ["_decode", "_write"])]
)
@pytest.mark.parametrize("response_format", ["url", "b64_json"])
async def test_base64_is_stored_and_handed_back_unchanged(
    storage: LocalStorage, threads: list[str], size: int, hops: list[str], response_format: Any
) -> None:
    data = padded_png(size)
    text = base64.b64encode(data).decode()
    kept = await keep(storage, UpstreamImage(b64=text, revised_prompt="fox"), response_format)
    assert kept.byte_size == len(data)
    assert kept.format == "png"
    assert kept.revised_prompt == "fox"
    assert kept.b64 is (text if response_format == "b64_json" else None)  # the same object
    assert kept.ref is not None and kept.id == kept.ref.id
    assert (kept.ref.format, kept.ref.byte_size) == ("png", len(data))
    assert threads == hops
    assert await storage.read(kept.ref) == data


@pytest.mark.parametrize("size", [1000, INLINE_DECODE_BYTES * 4])
async def test_bytes_from_a_carrier_are_stored(
    storage: LocalStorage, threads: list[str], size: int
) -> None:
    data = padded_png(size, b"\1")
    kept = await keep(storage, UpstreamImage(data=data), "url")
    assert kept.ref is not None and kept.b64 is None
    assert threads == ([] if size <= INLINE_DECODE_BYTES else ["_verify", "_write"])
    assert await storage.read(kept.ref) == data


async def test_bytes_asked_for_as_base64_are_stored_and_encoded(storage: LocalStorage) -> None:
    data = padded_png(100, b"\2")
    kept = await keep(storage, UpstreamImage(data=data), "b64_json")
    assert kept.b64 == base64.b64encode(data).decode()
    assert kept.ref is not None and await storage.read(kept.ref) == data


EPHEMERAL = padded_png(1, b"e")


@pytest.mark.parametrize(
    "image",
    [UpstreamImage(b64=base64.b64encode(EPHEMERAL).decode()), UpstreamImage(data=EPHEMERAL)],
)
async def test_ephemeral_images_are_not_stored(
    storage: LocalStorage, tmp_path: Path, image: UpstreamImage
) -> None:
    kept = await keep(storage, image, "b64_ephemeral")
    assert kept.ref is None and kept.id is None
    assert kept.b64 == base64.b64encode(EPHEMERAL).decode()
    assert not stored_files(tmp_path)


async def test_unpadded_base64_with_line_breaks_still_decodes(storage: LocalStorage) -> None:
    data = padded_png(3, b"abc")
    text = base64.encodebytes(data).decode().rstrip("=\n")
    kept = await keep(storage, UpstreamImage(b64=text), "url")
    assert kept.ref is not None and await storage.read(kept.ref) == data


@pytest.mark.parametrize("text", ["bm90IGFuIGltYWdl", "!!!!"])
async def test_not_an_image_is_refused(storage: LocalStorage, tmp_path: Path, text: str) -> None:
    with pytest.raises(NotAnImage):
        await keep(storage, UpstreamImage(b64=text), "url")
    assert not stored_files(tmp_path)


async def test_small_images_do_not_wait_for_a_thread(
    storage: LocalStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_threads(*args: object, **kwargs: object) -> None:
        raise AssertionError("a small image went to a worker thread")

    monkeypatch.setattr(asyncio, "to_thread", no_threads)
    data = base64.b64encode(padded_png(100, b"x")).decode()
    kept = await keep(storage, UpstreamImage(b64=data), "url")
    assert kept.ref is not None


async def test_a_storage_failure_hands_the_image_back_as_base64() -> None:
    class FullDisk:
        async def put(self, data: bytes, fmt: str) -> None:
            raise StorageFailed("could not store the image (No space left on device)")

    data = padded_png(1, b"x")
    kept = await keep(FullDisk(), UpstreamImage(data=data), "url")
    assert kept.ref is None and kept.storage_error is not None
    assert "No space left" in kept.storage_error
    assert kept.b64 == base64.b64encode(data).decode()
