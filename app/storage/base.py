"""The storage interface: where generated images are kept, and how clients reach them.

A backend keeps image bytes under an unguessable id (128 random bits, URL-safe base64, 22
characters) and owns the URLs of what it keeps: the local disk answers them through the
gateway's ``/images/...`` endpoint, an object store may sign them for its own host
(``app.storage.urls``: the URL modes and their expiry). Images are immutable once stored.
Every failure to store, read or delete is ``StorageFailed``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Protocol, cast

from app.config.storage import UrlMode
from app.domain import MEDIA_TYPES, ImageFormat, StoredRef
from app.storage.urls import GatewayLinks, MintedUrl

_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")

# The URL of a stored image (and its expiry), already bound to the request's public base URL.
ImageUrl = Callable[[StoredRef], MintedUrl]


def new_image_id() -> str:
    return secrets.token_urlsafe(16)


def valid_image_id(image_id: str) -> bool:
    return _ID.match(image_id) is not None


def parse_filename(filename: str) -> StoredRef | None:
    """The image a served file name (``<id>.<format>``) names, size unknown (0); None when
    the name is not one this gateway hands out."""
    image_id, _, ext = filename.rpartition(".")
    if ext not in MEDIA_TYPES or not valid_image_id(image_id):
        return None
    return StoredRef(image_id, cast(ImageFormat, ext), 0)


class Storage(Protocol):
    """Keeps image bytes under an unguessable id and mints the URLs clients fetch them from."""

    @property
    def serves_files(self) -> bool:
        """Whether the gateway itself answers this backend's URLs (``GET /images/...``)."""
        ...

    @property
    def links(self) -> GatewayLinks:
        """Mints and checks the gateway's own ``/images/...`` URLs (signed or plain)."""
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

    def url(
        self,
        ref: StoredRef,
        base_url: str,
        *,
        mode: UrlMode | None = None,
        ttl: float | None = None,
    ) -> MintedUrl:
        """Where a client fetches the image, and until when. ``base_url`` is the gateway's
        public address; a backend serving from elsewhere (a bucket, a CDN, a presigned link)
        may ignore it. ``mode`` and ``ttl`` override the deployment's ``url_mode`` and
        ``url_ttl`` (a key's own policy); minting does no I/O."""
        ...

    def redirect(self, ref: StoredRef) -> str | None:
        """Where ``GET /images/<id>.<fmt>`` sends the client instead of streaming the image
        itself (a fresh presigned URL of an object store), or None to stream it."""
        ...
