"""Idempotency keys: the request fingerprint, and the in-process store of answers.

A repeat that arrives while the first request runs waits for its answer instead of starting a
second generation; the same key with a different request is a 409. Only successes are kept:
after a failure the key is free again. An answer keeps image references, not image bytes: the
base64 of stored images is dropped (storage holds it) and the input images are never kept.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, fields, replace

import orjson

from app.config.runtime import IdempotencyConfig
from app.domain import Generation, ImageJob, InputImage, StoredImage
from app.errors import Conflict

# Derived from the other fields (rules, adjustments) or digested by content (images, mask).
_SKIPPED = frozenset({"rules", "images", "mask", "adjustments"})


def fingerprint(job: ImageJob) -> str:
    """A digest of everything that shapes the output (not how it was encoded: multipart
    boundaries differ), input images and mask by the SHA-256 of their bytes.
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
    expires: float
    settled: asyncio.Event
    answer: Generation | None = None


class MemoryIdempotencyStore:
    def __init__(
        self, config: IdempotencyConfig, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._config = config
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    async def begin(self, key: str, fingerprint: str) -> Generation | None:
        while True:
            self._expire()
            entry = self._entries.get(key)
            if entry is None:
                expires = self._clock() + self._config.ttl
                self._entries[key] = _Entry(fingerprint, expires, asyncio.Event())
                return None
            if entry.fingerprint != fingerprint:
                raise Conflict(
                    "This Idempotency-Key was already used with a different request.",
                    code="idempotency_key_reused",
                )
            if entry.answer is not None:
                return entry.answer
            await entry.settled.wait()  # finished (answer set) or abandoned (entry gone)

    async def finish(self, key: str, answer: Generation) -> None:
        entry = self._entries.get(key)
        if entry is not None:
            entry.answer = references_only(answer)
            entry.settled.set()

    async def abandon(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            entry.settled.set()

    def _expire(self) -> None:
        now = self._clock()
        for key in [k for k, e in self._entries.items() if e.expires <= now]:
            self._entries.pop(key).settled.set()
        while len(self._entries) > self._config.max_entries:
            self._entries.popitem(last=False)[1].settled.set()


def references_only(generation: Generation) -> Generation:
    """Drop base64 of stored images (kept in storage); ephemeral base64 has nowhere else to live."""
    return replace(generation, images=tuple(_without_b64(image) for image in generation.images))


def _without_b64(image: StoredImage) -> StoredImage:
    return replace(image, b64=None) if image.id is not None and image.b64 is not None else image
