"""The storage interface: where generated images are kept, and how clients reach them.

A backend keeps image bytes under an unguessable id (128 random bits, URL-safe base64, 22
characters) and owns the URLs of what it keeps: the local disk answers them through the
gateway's ``/images/...`` endpoint, an object store may sign them for its own host. Images are
immutable once stored. Every failure to store, read or delete is ``StorageFailed``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from app.domain import ImageFormat, StoredRef

_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")

# The URL of a stored image, already bound to the request's public base URL.
ImageUrl = Callable[[StoredRef], str]


def new_image_id() -> str:
    return secrets.token_urlsafe(16)


def valid_image_id(image_id: str) -> bool:
    return _ID.match(image_id) is not None


class Storage(Protocol):
    """Keeps image bytes under an unguessable id and mints the URLs clients fetch them from."""

    @property
    def serves_files(self) -> bool:
        """Whether the gateway itself answers this backend's URLs (``GET /images/...``)."""
        ...

    async def put(self, data: bytes, fmt: ImageFormat) -> StoredRef:
        """Store ``data`` under a new id. Small images cost no thread hop."""
        ...

    async def read(self, ref: StoredRef) -> bytes:
        """The bytes of a stored image; ``StorageFailed`` when they cannot be read."""
        ...

    async def find(self, filename: str) -> StoredRef | None:
        """The image a served file name (``<id>.<format>``) names, or None if there is none."""
        ...

    def stream(self, ref: StoredRef, start: int, stop: int) -> AsyncIterator[bytes]:
        """Bytes ``start`` up to (not including) ``stop`` of a stored image, in chunks."""
        ...

    async def delete(self, ref: StoredRef) -> None:
        """Forget an image; deleting one that is already gone is not an error."""
        ...

    def url(self, ref: StoredRef, base_url: str) -> str:
        """Where a client fetches the image. ``base_url`` is the gateway's public address;
        a backend serving from elsewhere (a bucket, a CDN, a signed link) may ignore it."""
        ...
