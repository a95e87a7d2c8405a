"""Images on the local disk: ``<directory>/<id[:2]>/<id>.<format>``, written atomically, served by
the gateway itself under ``/images/<id>.<format>``.

A write is four system calls: open a temporary file next to the target (named after the new,
random id, so ``O_EXCL`` never collides), write, close, rename. Shard directories are created
once and remembered. Images up to ``INLINE_BYTES`` are written and read on the event loop,
where that costs less than handing them to a worker thread; larger ones go to a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

from app.config.storage import UrlMode
from app.domain import ImageFormat, StoredRef
from app.errors import StorageFailed
from app.storage.base import new_image_id, parse_filename
from app.storage.urls import SERVED_UNDER, GatewayLinks, MintedUrl, public_links

# Largest image written or read on the event loop rather than in a worker thread.
INLINE_BYTES = 256 * 1024
__all__ = ["INLINE_BYTES", "SERVED_UNDER", "LocalStorage"]
_CHUNK = 1024 * 1024
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
_READ = os.O_RDONLY | os.O_CLOEXEC


class LocalStorage:
    serves_files = True

    def __init__(self, directory: Path, links: GatewayLinks | None = None) -> None:
        self.links = links or public_links()
        self.directory = directory.resolve()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._root = str(self.directory)
        self._shards: set[str] = set()  # shard directories known to exist

    async def put(self, data: bytes, fmt: ImageFormat) -> StoredRef:
        if len(data) <= INLINE_BYTES:
            image_id = self._write(data, fmt)
        else:
            image_id = await asyncio.to_thread(self._write, data, fmt)
        return StoredRef(image_id, fmt, len(data))

    async def read(self, ref: StoredRef) -> bytes:
        path = self._path(ref)
        try:
            if ref.byte_size <= INLINE_BYTES:
                return _read_file(path)
            return await asyncio.to_thread(_read_file, path)
        except OSError as exc:
            raise StorageFailed(f"could not read the image ({exc.strerror})") from None

    async def find(self, filename: str) -> StoredRef | None:
        ref = parse_filename(filename)
        if ref is None:
            return None
        try:
            size = os.stat(self._path(ref)).st_size
        except OSError:
            return None
        return StoredRef(ref.id, ref.format, size)

    async def stream(self, ref: StoredRef, start: int, stop: int) -> AsyncIterator[bytes]:
        fd = os.open(self._path(ref), _READ)
        try:
            while start < stop:
                size = min(stop - start, _CHUNK)
                if size <= INLINE_BYTES:
                    chunk = os.pread(fd, size, start)
                else:
                    chunk = await asyncio.to_thread(os.pread, fd, size, start)
                if not chunk:
                    return
                start += len(chunk)
                yield chunk
        finally:
            os.close(fd)

    async def delete(self, ref: StoredRef) -> None:
        try:
            os.unlink(self._path(ref))
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StorageFailed(f"could not delete the image ({exc.strerror})") from None

    def url(
        self,
        ref: StoredRef,
        base_url: str,
        *,
        mode: UrlMode | None = None,
        ttl: float | None = None,
    ) -> MintedUrl:
        policy = self.links.policy
        if (mode or policy.mode) == "signed":
            return self.links.signed(ref.filename, base_url, ttl or policy.ttl)
        return self.links.plain(ref.filename, base_url)  # public and proxy: the gateway serves

    def redirect(self, ref: StoredRef) -> str | None:
        return None

    def _path(self, ref: StoredRef) -> str:
        return f"{self._root}/{ref.id[:2]}/{ref.filename}"

    def _write(self, data: bytes, fmt: ImageFormat) -> str:
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


def _read_file(path: str) -> bytes:
    with open(path, "rb", buffering=0) as file:
        return file.read()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
