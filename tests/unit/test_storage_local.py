"""LocalStorage: atomic, private files under unguessable ids, served by the gateway; small
images never wait for a thread; every failure is StorageFailed."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.domain import StoredRef
from app.errors import StorageFailed
from app.storage.local import INLINE_BYTES, LocalStorage

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
PNG = b"\x89PNG\r\n\x1a\nbytes"


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


async def collect(storage: LocalStorage, ref: StoredRef, start: int, stop: int) -> bytes:
    return b"".join([chunk async for chunk in storage.stream(ref, start, stop)])


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


async def test_put_then_read_find_and_url(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "images")
    ref = await storage.put(PNG, "png")
    assert (ref.format, ref.byte_size) == ("png", len(PNG))
    assert await storage.read(ref) == PNG
    path = tmp_path / "images" / ref.id[:2] / f"{ref.id}.png"
    assert path.read_bytes() == PNG
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert await storage.find(f"{ref.id}.png") == ref
    assert (
        storage.url(ref, "https://gw.example/base").url
        == f"https://gw.example/base/images/{ref.id}.png"
    )


async def test_find_refuses_anything_but_a_stored_id_and_its_format(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    ref = await storage.put(PNG, "png")
    (tmp_path / "secret.png").write_bytes(b"x")
    refused = [f"{ref.id}.webp", f"{ref.id}.gif", ref.id, f"../{ref.id[:2]}/{ref.id}.png"]
    refused += [
        "../secret.png",
        "secret.png",
        "..",
        "a/b.png",
        "A" * 21 + ".png",
        "A" * 22 + ".png",
    ]
    for name in refused:
        assert await storage.find(name) is None, name


@pytest.mark.parametrize(
    ("start", "stop"), [(0, 14), (0, 1), (3, 9), (13, 14), (0, 5 * 1024 * 1024), (1, 4_000_001)]
)
async def test_stream_yields_exactly_the_asked_bytes(tmp_path: Path, start: int, stop: int) -> None:
    data = os.urandom(5 * 1024 * 1024)
    storage = LocalStorage(tmp_path)
    small, large = await storage.put(PNG, "png"), await storage.put(data, "png")
    source, ref = (PNG, small) if stop <= len(PNG) else (data, large)
    assert await collect(storage, ref, start, stop) == source[start:stop]


async def test_large_images_are_written_and_read_whole_in_a_thread(
    tmp_path: Path, threads: list[str]
) -> None:
    data = os.urandom(5 * 1024 * 1024)
    storage = LocalStorage(tmp_path)
    ref = await storage.put(data, "png")
    assert await storage.read(ref) == data
    assert await collect(storage, ref, 0, ref.byte_size) == data
    assert threads == ["_write", "_read_file", "pread", "pread", "pread", "pread", "pread"]


async def test_small_images_never_wait_for_a_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_threads(*args: object, **kwargs: object) -> None:
        raise AssertionError("a small image went to a worker thread")

    monkeypatch.setattr(asyncio, "to_thread", no_threads)
    storage = LocalStorage(tmp_path)
    data = b"\0" * INLINE_BYTES
    ref = await storage.put(data, "png")
    assert await storage.read(ref) == data
    assert await collect(storage, ref, 0, ref.byte_size) == data


async def test_delete_forgets_the_image_and_tolerates_a_second_delete(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    ref = await storage.put(PNG, "png")
    await storage.delete(ref)
    assert await storage.find(ref.filename) is None
    assert not stored_files(tmp_path)
    await storage.delete(ref)
    with pytest.raises(StorageFailed, match="could not read the image"):
        await storage.read(ref)


async def test_no_temporary_files_are_left(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    for _ in range(20):
        await storage.put(b"x", "png")
    files = stored_files(tmp_path)
    assert len(files) == 20 and all(p.suffix == ".png" and p.name[0] != "." for p in files)


async def test_a_shard_removed_behind_its_back_is_recreated(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    first = await storage.put(b"x", "png")
    shutil.rmtree(tmp_path / first.id[:2])
    for _ in range(200):  # some of these land in the removed shard
        ref = await storage.put(b"y", "png")
        assert await storage.read(ref) == b"y"


@pytest.mark.parametrize("size", [100, INLINE_BYTES + 1])
async def test_write_failures_are_storage_failed_and_clean_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    storage = LocalStorage(tmp_path)

    def disk_full(fd: int, data: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", disk_full)
    with pytest.raises(StorageFailed, match="No space left on device"):
        await storage.put(b"x" * size, "png")
    assert not stored_files(tmp_path)


async def test_a_directory_that_cannot_be_made_is_storage_failed(tmp_path: Path) -> None:
    # A file where the shard directory should go fails for every user, root included.
    storage = LocalStorage(tmp_path)
    for shard in {f"{a}{b}" for a in ALPHABET for b in ALPHABET}:
        (storage.directory / shard).write_bytes(b"")
    with pytest.raises(StorageFailed):
        await storage.put(b"x", "png")


async def test_a_delete_that_fails_is_storage_failed(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    ref = await storage.put(PNG, "png")
    # Deleting a directory with unlink fails for every user, root included.
    path = tmp_path / ref.id[:2] / ref.filename
    path.unlink()
    path.mkdir()
    with pytest.raises(StorageFailed, match="could not delete the image"):
        await storage.delete(ref)
