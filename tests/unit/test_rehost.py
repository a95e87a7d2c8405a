"""Rehoster: small images on the event loop, large ones in a thread, same results either way."""

from __future__ import annotations

import asyncio
import base64
import threading
from pathlib import Path
from typing import Any

import pytest

from app.config import FetchConfig, StorageConfig
from app.domain import UpstreamImage
from app.inputs.fetch import SafeFetcher
from app.run.rehost import INLINE_BYTES, NotAnImage, Rehoster
from app.storage.local import LocalStorage

PNG_HEAD = b"\x89PNG\r\n\x1a\n"


class RecordingStorage(LocalStorage):
    threads: list[bool]

    def save(self, data: bytes, fmt: Any) -> str:
        self.threads.append(threading.current_thread() is threading.main_thread())
        return super().save(data, fmt)


@pytest.fixture
def storage(tmp_path: Path) -> RecordingStorage:
    store = RecordingStorage(tmp_path)
    store.threads = []
    return store


@pytest.mark.parametrize(("size", "on_loop"), [(1000, True), (INLINE_BYTES * 4, False)])
@pytest.mark.parametrize("response_format", ["url", "b64_json"])
async def test_base64_is_stored_and_handed_back_unchanged(
    storage: RecordingStorage, size: int, on_loop: bool, response_format: Any
) -> None:
    data = PNG_HEAD + b"\0" * size
    text = base64.b64encode(data).decode()
    kept = await Rehoster(storage, SafeFetcher(FetchConfig()), StorageConfig()).keep(
        UpstreamImage(b64=text, revised_prompt="fox"), response_format
    )
    assert kept.byte_size == len(data)
    assert kept.format == "png"
    assert kept.revised_prompt == "fox"
    assert kept.b64 is (text if response_format == "b64_json" else None)  # the same object
    assert kept.id is not None
    path = storage.locate(kept.id, "png")
    assert path is not None and path.read_bytes() == data
    assert storage.threads == [on_loop]


@pytest.mark.parametrize("size", [1000, INLINE_BYTES * 4])
async def test_bytes_from_a_carrier_are_stored(storage: RecordingStorage, size: int) -> None:
    data = PNG_HEAD + b"\1" * size
    kept = await Rehoster(storage, SafeFetcher(FetchConfig()), StorageConfig()).keep(
        UpstreamImage(data=data), "url"
    )
    assert kept.id is not None
    assert storage.locate(kept.id, "png").read_bytes() == data  # type: ignore[union-attr]
    assert storage.threads == [size <= INLINE_BYTES]


async def test_unpadded_base64_with_line_breaks_still_decodes(storage: RecordingStorage) -> None:
    data = PNG_HEAD + b"abc"
    text = base64.encodebytes(data).decode().rstrip("=\n")
    kept = await Rehoster(storage, SafeFetcher(FetchConfig()), StorageConfig()).keep(
        UpstreamImage(b64=text), "url"
    )
    assert storage.locate(kept.id or "", "png").read_bytes() == data  # type: ignore[union-attr]


@pytest.mark.parametrize("text", ["bm90IGFuIGltYWdl", "!!!!"])
async def test_not_an_image_is_refused(storage: RecordingStorage, text: str) -> None:
    with pytest.raises(NotAnImage):
        await Rehoster(storage, SafeFetcher(FetchConfig()), StorageConfig()).keep(
            UpstreamImage(b64=text), "url"
        )


async def test_small_images_do_not_wait_for_a_thread(
    storage: RecordingStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_threads(*args: object, **kwargs: object) -> None:
        raise AssertionError("a small image went to a worker thread")

    monkeypatch.setattr(asyncio, "to_thread", no_threads)
    data = base64.b64encode(PNG_HEAD + b"x" * 100).decode()
    kept = await Rehoster(storage, SafeFetcher(FetchConfig()), StorageConfig()).keep(
        UpstreamImage(b64=data), "url"
    )
    assert kept.id is not None
