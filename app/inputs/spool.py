"""Request-scoped holding of uploaded and fetched bytes: memory up to a threshold, then disk.

A :class:`Spool` lives as long as one request and owns every temporary file made for it.
A :class:`SpoolWriter` takes bytes chunk by chunk; a blob that grows past the threshold moves to
an anonymous temporary file (already unlinked, so nothing outlives the process), written from a
worker thread. Memory per writer stays below the threshold plus one flush, however large the
upload: sixteen 20 MB images cost about 16 x 20 MB of disk and a few MB of memory.

A finished blob can be opened any number of times, also concurrently (retries, fallbacks):
file readers use positional reads and never share a file offset.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from app.errors import UploadSpaceExhausted

log = logging.getLogger(__name__)
_FLUSH_BYTES = 1024 * 1024
_READ_BUFFER = 64 * 1024


@dataclass(frozen=True, slots=True)
class MemoryBlob:
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)

    def open(self) -> BinaryIO:
        return io.BytesIO(self.data)  # shares the bytes until written to; never copied here


@dataclass(frozen=True, slots=True)
class FileBlob:
    fd: int
    size: int

    def open(self) -> BinaryIO:
        return io.BufferedReader(_PositionalReader(self.fd, self.size), _READ_BUFFER)


class _PositionalReader(io.RawIOBase):
    """A read-only view of ``size`` bytes of a file descriptor, with its own offset."""

    def __init__(self, fd: int, size: int) -> None:
        self._fd = fd
        self._size = size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        wanted = min(len(buffer), self._size - self._pos)
        if wanted <= 0:
            return 0
        data = os.pread(self._fd, wanted, self._pos)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos


class Spool:
    """Owns the temporary files of one request; closing it releases them all."""

    def __init__(self, directory: Path | None = None, threshold: int = 1024 * 1024) -> None:
        self.directory = directory
        self.threshold = threshold
        self._files: list[BinaryIO] = []
        self._on_close: list[Callable[[], None]] = []
        self.closed = False

    def writer(self) -> SpoolWriter:
        return SpoolWriter(self)

    def _new_file(self) -> BinaryIO:
        if self.closed:
            raise RuntimeError("the spool is closed")
        # Unbuffered: every write goes straight to the descriptor that readers pread from.
        # The spool owns the file and closes it in close(), not at the end of this block.
        try:
            handle: BinaryIO = tempfile.TemporaryFile(  # noqa: SIM115
                buffering=0, dir=self.directory, prefix="imagegate-"
            )
        except OSError as exc:
            raise spool_failed(exc, self.directory) from None
        self._files.append(handle)
        return handle

    def on_close(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` when the spool is closed (what the request held is released)."""
        self._on_close.append(callback)

    def close(self) -> None:
        self.closed = True
        files, self._files = self._files, []
        for handle in files:
            handle.close()
        callbacks, self._on_close = self._on_close, []
        for callback in callbacks:
            callback()

    @property
    def open_files(self) -> int:
        return len(self._files)

    def __enter__(self) -> Spool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class SpoolWriter:
    """Collects one blob. ``append`` is synchronous (for parser callbacks); ``drain`` and
    ``finish`` do the disk writes off the event loop."""

    def __init__(self, spool: Spool) -> None:
        self._spool = spool
        self._buffer = bytearray()
        self._file: BinaryIO | None = None
        self.size = 0

    @property
    def buffered(self) -> int:
        """Bytes held in memory right now."""
        return len(self._buffer)

    def append(self, chunk: bytes) -> None:
        self._buffer += chunk
        self.size += len(chunk)

    async def write(self, chunk: bytes) -> None:
        self.append(chunk)
        await self.drain()

    async def drain(self) -> None:
        """Move buffered bytes to disk once the blob is past the threshold."""
        if self._file is None and len(self._buffer) > self._spool.threshold:
            self._file = await asyncio.to_thread(self._spool._new_file)
        if self._file is not None and len(self._buffer) >= _FLUSH_BYTES:
            await self._flush()

    async def finish(self) -> MemoryBlob | FileBlob:
        await self.drain()
        if self._file is None:
            return MemoryBlob(bytes(self._buffer))
        await self._flush()
        return FileBlob(self._file.fileno(), self.size)

    async def _flush(self) -> None:
        assert self._file is not None
        data, self._buffer = self._buffer, bytearray()
        try:
            await asyncio.to_thread(_write_all, self._file, data)
        except OSError as exc:
            raise spool_failed(exc, self._spool.directory) from None


def spool_failed(exc: OSError, directory: Path | None) -> UploadSpaceExhausted:
    """A disk problem while spooling an upload: one error line here, a 503 for the client."""
    where = directory or Path(tempfile.gettempdir())
    reason = exc.strerror or type(exc).__name__
    log.error("cannot spool an upload to %s: %s", where, reason)
    return UploadSpaceExhausted(
        "The gateway has no room for this upload right now; try again later.", retry_after=30
    )


def _write_all(handle: BinaryIO, data: bytearray) -> None:
    view = memoryview(data)
    while view:
        view = view[handle.write(view) :]
