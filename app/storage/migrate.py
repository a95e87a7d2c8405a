"""Copy the images of the local disk into another backend (``imagegate storage migrate``).

Objects keep their file names (``<id>.<format>``), so every URL the gateway handed out,
``/images/<id>.<fmt>`` (signed or not), finds them on the new backend. A copy already there with
the same size is skipped, so an interrupted migration is simply run again. The local files are
kept unless asked otherwise (``delete_local``), and then only after their copy is stored.
``moved`` hears, in batches, the ids of the images now in the target (copied or already
there): the command marks them in the image index. A fixed number of workers walk the
directory, so a disk of millions of images costs no more memory than one of ten.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from app.domain import StoredRef
from app.errors import StorageFailed
from app.storage.base import parse_filename


@runtime_checkable
class Target(Protocol):
    async def find(self, filename: str) -> StoredRef | None: ...

    async def upload(self, ref: StoredRef, data: bytes) -> None: ...


MOVED_BATCH = 500  # image ids handed to ``moved`` at once


@dataclass
class Migration:
    copied: int = 0
    present: int = 0  # already in the target (an earlier, interrupted run)
    failed: int = 0


def local_images(directory: Path) -> Iterator[tuple[StoredRef, Path]]:
    """Every image under ``<directory>/<shard>/<id>.<fmt>`` (temporary files are skipped)."""
    for shard in sorted(directory.iterdir()) if directory.is_dir() else ():
        if not shard.is_dir() or len(shard.name) != 2:
            continue
        for path in sorted(shard.iterdir()):
            ref = parse_filename(path.name)
            if ref is not None and path.is_file():
                yield StoredRef(ref.id, ref.format, path.stat().st_size), path


async def migrate(
    directory: Path,
    target: Target,
    *,
    delete_local: bool = False,
    concurrency: int = 4,
    moved: Callable[[list[str]], Awaitable[None]] | None = None,
) -> Migration:
    result = Migration()
    images = local_images(directory)
    done: list[str] = []

    async def copy(ref: StoredRef, path: Path) -> None:
        try:
            there = await target.find(ref.filename)
            if there is not None and there.byte_size == ref.byte_size:
                result.present += 1
            else:
                await target.upload(ref, await asyncio.to_thread(path.read_bytes))
                result.copied += 1
            done.append(ref.id)
            if delete_local:
                await asyncio.to_thread(os.unlink, path)
        except (StorageFailed, OSError):
            result.failed += 1

    async def worker() -> None:
        for ref, path in images:  # one shared iterator: each image is taken by one worker
            await copy(ref, path)
            if moved is not None and len(done) >= MOVED_BATCH:
                batch, done[:] = done[:], []
                await moved(batch)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    if moved is not None and done:
        await moved(done)
    return result
