"""Copy the images of the local disk into another backend (``imagegate storage migrate``).

Objects keep their file names (``<id>.<format>``), so every URL the gateway handed out,
``/images/<id>.<fmt>`` (signed or not), finds them on the new backend. A copy already there with
the same size is skipped, so an interrupted migration is simply run again. The local files are
kept unless asked otherwise (``delete_local``), and then only after their copy is stored.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
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
    directory: Path, target: Target, *, delete_local: bool = False, concurrency: int = 4
) -> Migration:
    result = Migration()
    gate = asyncio.Semaphore(concurrency)

    async def copy(ref: StoredRef, path: Path) -> None:
        async with gate:
            try:
                there = await target.find(ref.filename)
                if there is not None and there.byte_size == ref.byte_size:
                    result.present += 1
                else:
                    await target.upload(ref, await asyncio.to_thread(path.read_bytes))
                    result.copied += 1
                if delete_local:
                    await asyncio.to_thread(os.unlink, path)
            except (StorageFailed, OSError):
                result.failed += 1

    await asyncio.gather(*(copy(ref, path) for ref, path in local_images(directory)))
    return result
