"""Images on the local disk: ``<directory>/<id[:2]>/<id>.<format>``, written atomically.

A save is four system calls: open a temporary file next to the target (named after the new,
random id, so ``O_EXCL`` never collides), write, close, rename. Shard directories are created
once and remembered.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from app.domain import ImageFormat
from app.errors import StorageFailed
from app.storage.base import new_image_id, valid_image_id

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC


class LocalStorage:
    def __init__(self, directory: Path) -> None:
        self.directory = directory.resolve()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._root = str(self.directory)
        self._shards: set[str] = set()  # shard directories known to exist

    def save(self, data: bytes, fmt: ImageFormat) -> str:
        image_id = new_image_id()
        shard = f"{self._root}/{image_id[:2]}"
        target = f"{shard}/{image_id}.{fmt}"
        tmp = f"{shard}/.tmp-{image_id}.{fmt}"
        try:
            if shard not in self._shards:
                os.makedirs(shard, exist_ok=True)
                self._shards.add(shard)
            try:
                fd = os.open(tmp, _CREATE, 0o600)
            except FileNotFoundError:  # the shard was removed behind our back
                os.makedirs(shard, exist_ok=True)
                fd = os.open(tmp, _CREATE, 0o600)
            try:
                _write_all(fd, data)
            finally:
                os.close(fd)
            os.replace(tmp, target)
        except OSError as exc:
            _unlink_quietly(tmp)
            raise StorageFailed(f"could not store the image ({exc.strerror})") from None
        return image_id

    def locate(self, image_id: str, fmt: ImageFormat) -> Path | None:
        if not valid_image_id(image_id):
            return None
        path = self._path(image_id, fmt)
        return path if path.is_file() else None

    def _path(self, image_id: str, fmt: ImageFormat) -> Path:
        return self.directory / image_id[:2] / f"{image_id}.{fmt}"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
