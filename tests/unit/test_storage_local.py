"""LocalStorage: atomic, private files under unguessable ids; failures are StorageFailed."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from app.errors import StorageFailed
from app.storage.local import LocalStorage

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def test_saved_images_can_be_located(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "images")
    image_id = storage.save(b"\x89PNG\r\n\x1a\nbytes", "png")
    path = storage.locate(image_id, "png")
    assert path is not None
    assert path.read_bytes() == b"\x89PNG\r\n\x1a\nbytes"
    assert path.parent.name == image_id[:2]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert storage.locate(image_id, "webp") is None
    assert storage.locate("../../etc/passwd", "png") is None


def test_large_images_are_written_whole(tmp_path: Path) -> None:
    data = os.urandom(5 * 1024 * 1024)
    storage = LocalStorage(tmp_path)
    path = storage.locate(storage.save(data, "png"), "png")
    assert path is not None and path.read_bytes() == data


def test_no_temporary_files_are_left(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    for _ in range(20):
        storage.save(b"x", "png")
    assert not [p for p in tmp_path.rglob(".tmp-*")]
    assert len(list(tmp_path.rglob("*.png"))) == 20


def test_a_shard_removed_behind_its_back_is_recreated(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    first = storage.save(b"x", "png")
    shutil.rmtree(tmp_path / first[:2])
    for _ in range(200):  # some of these land in the removed shard
        assert storage.locate(storage.save(b"y", "png"), "png") is not None


def test_write_failures_are_storage_failed_and_clean_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = LocalStorage(tmp_path)

    def disk_full(fd: int, data: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", disk_full)
    with pytest.raises(StorageFailed, match="No space left on device"):
        storage.save(b"x" * 100, "png")
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_a_directory_that_cannot_be_made_is_storage_failed(tmp_path: Path) -> None:
    # A file where the shard directory should go fails for every user, root included.
    storage = LocalStorage(tmp_path)
    for shard in {f"{a}{b}" for a in ALPHABET for b in ALPHABET}:
        (storage.directory / shard).write_bytes(b"")
    with pytest.raises(StorageFailed):
        storage.save(b"x", "png")
