"""Idempotency keys: one generation per key, replayed to every repeat within a TTL.

A repeat that arrives while the first request runs waits for the same task instead of starting
a second generation; the same key with a different request is a 409. Only successes are kept:
after a failure the key is free again, so a client's retry really retries. Replays of stored
images keep only ids in memory; base64 is read back from storage when a replay needs it.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, fields, replace

import orjson

from app.config.schema import IdempotencyConfig
from app.domain import Generation, ImageJob, InputImage, StoredImage
from app.errors import Conflict

_SKIPPED = frozenset({"rules", "images", "mask", "adjustments"})


def fingerprint(job: ImageJob) -> str:
    """A digest of what was asked (not how it was encoded: multipart boundaries differ).
    Blocking for edits (it reads the inputs): call it from a worker thread."""
    digest = hashlib.sha256()
    params = {f.name: getattr(job, f.name) for f in fields(job) if f.name not in _SKIPPED}
    digest.update(orjson.dumps(params, option=orjson.OPT_SORT_KEYS))
    for image in (*job.images, job.mask):
        digest.update(b"-" if image is None else _content_digest(image))
    return digest.hexdigest()


def _content_digest(image: InputImage) -> bytes:
    """SHA-256 of an input's bytes, read in chunks from wherever they are spooled (blocking)."""
    digest = hashlib.sha256()
    with image.blob.open() as reader:
        while chunk := reader.read(1024 * 1024):
            digest.update(chunk)
    return digest.digest()


@dataclass
class _Entry:
    fingerprint: str
    task: asyncio.Task[Generation]
    expires: float
    result: Generation | None = None


class IdempotencyStore:
    def __init__(self, config: IdempotencyConfig, clock: Callable[[], float] = time.monotonic):
        self._config = config
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    async def run(
        self, key: str, print_: str, start: Callable[[], asyncio.Task[Generation]]
    ) -> tuple[Generation, bool]:
        """The generation for ``key`` and whether it is a replay."""
        self._expire()
        entry = self._entries.get(key)
        if entry is not None and entry.fingerprint != print_:
            raise Conflict(
                "This Idempotency-Key was already used with a different request.",
                code="idempotency_key_reused",
            )
        if entry is None:
            entry = _Entry(print_, start(), self._clock() + self._config.ttl)
            self._entries[key] = entry
            entry.task.add_done_callback(lambda task: self._settle(key, entry))
            return await asyncio.shield(entry.task), False
        if entry.result is not None:
            return entry.result, True
        return await asyncio.shield(entry.task), True

    def _settle(self, key: str, entry: _Entry) -> None:
        task = entry.task
        if task.cancelled() or task.exception() is not None:
            if self._entries.get(key) is entry:
                del self._entries[key]
            return
        entry.result = _slim(task.result())

    def _expire(self) -> None:
        now = self._clock()
        for key in [k for k, e in self._entries.items() if e.expires <= now]:
            del self._entries[key]
        while len(self._entries) > self._config.max_entries:
            self._entries.popitem(last=False)


def _slim(generation: Generation) -> Generation:
    """Drop base64 of stored images (kept on disk); ephemeral base64 has nowhere else to live."""
    images = tuple(_without_b64(image) for image in generation.images)
    return replace(generation, images=images)


def _without_b64(image: StoredImage) -> StoredImage:
    return replace(image, b64=None) if image.id is not None and image.b64 is not None else image
