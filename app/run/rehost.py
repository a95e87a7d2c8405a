"""Re-hosting: turn what a carrier produced (base64, a URL, or bytes) into a stored image.

Every image is verified whole (``app.inputs.verify``: PNG chunks and CRCs, JPEG segments and
EOI, WebP RIFF chunks) before it is stored or handed back: a truncated or corrupt image is
:class:`NotAnImage`, which the pipeline treats as a transient carrier failure. Large images are
decoded and verified in a worker thread; small ones (up to ``INLINE_DECODE_BYTES``) on the event
loop, where it costs less than handing them to a thread. Where the bytes go, and whether writing
them needs a thread, is the storage's business; when storage fails, the image is handed back as
base64 instead of being lost. An upstream URL is downloaded by the SSRF-safe fetcher (a carrier
must not make us fetch internal addresses), streaming, with a size cap and a timeout.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from app.config.schema import StorageConfig
from app.domain import ImageFormat, ResponseFormat, StoredImage, UpstreamImage
from app.errors import StorageFailed
from app.inputs.dimensions import dimensions
from app.inputs.fetch import FetchError, SafeFetcher
from app.inputs.images import BadImage, decode_b64, decode_b64_exact, encode_b64
from app.inputs.spool import Spool
from app.inputs.verify import verify
from app.storage import Storage

log = logging.getLogger(__name__)
T = TypeVar("T")

# Largest image whose base64 is decoded on the event loop rather than in a worker thread.
INLINE_DECODE_BYTES = 256 * 1024


class NotAnImage(Exception):
    """The carrier's output is not a usable image (wrong bytes, too big, unreachable URL)."""


class Rehoster:
    def __init__(self, storage: Storage, fetcher: SafeFetcher, config: StorageConfig) -> None:
        self._storage = storage
        self._fetcher = fetcher
        self._max_bytes = config.download_max_bytes

    async def keep(
        self, image: UpstreamImage, response_format: ResponseFormat, *, keep_b64: bool = False
    ) -> StoredImage:
        """Verify ``image`` whole and store it unless ephemeral; base64 is handed back when
        asked for, or when ``keep_b64`` (a stream's completed event carries it even for URL
        clients). A storage failure loses nothing: the image comes back as base64, marked with
        ``storage_error``."""
        store = response_format != "b64_ephemeral"
        want_b64 = keep_b64 or response_format != "url"
        canonical: str | None = None  # the carrier's base64, when it may go back as it came
        if image.b64 is not None:  # decoded, verified and made text in one trip off the loop
            size = len(image.b64) * 3 // 4
            data, fmt, canonical = await _off_loop(size, _decode, image.b64, want_b64 or not store)
        else:
            data = image.data if image.data is not None else await self._download(image.url or "")
            fmt = await _off_loop(len(data), _verify, data)

        def text() -> str:  # built only when a client gets it
            return canonical if canonical is not None else encode_b64(data)

        revised = image.revised_prompt
        if not store:
            return StoredImage(fmt, len(data), b64=text(), revised_prompt=revised)
        try:
            ref = await self._storage.put(data, fmt)
        except StorageFailed as exc:
            return StoredImage(
                fmt, len(data), b64=text(), revised_prompt=revised, storage_error=exc.message
            )
        b64 = text() if want_b64 else None
        measured = dimensions(data, fmt)
        width, height = measured if measured is not None else (None, None)
        return StoredImage(
            fmt,
            len(data),
            ref=ref,
            b64=b64,
            revised_prompt=revised,
            width=width,
            height=height,
        )

    async def _download(self, url: str) -> bytes:
        if url.startswith("data:"):
            _, _, payload = url.partition(",")
            try:
                return decode_b64(payload)
            except ValueError:
                raise NotAnImage("the carrier's data URL is not valid base64") from None
        spool = Spool(threshold=self._max_bytes + 1)  # held in memory: it is capped anyway
        try:
            blob = await self._fetcher.fetch(url, spool.writer(), self._max_bytes)
            with blob.open() as reader:
                return reader.read()
        except FetchError as exc:
            raise NotAnImage(f"downloading the carrier's image failed: {exc}") from None
        finally:
            spool.close()


async def _off_loop(size: int, work: Callable[..., T], *args: Any) -> T:
    """Run ``work`` on the event loop for small images, in a worker thread for large ones."""
    if size <= INLINE_DECODE_BYTES:
        return work(*args)
    return await asyncio.to_thread(work, *args)


def _decode(b64: str | memoryview, with_text: bool) -> tuple[bytes, ImageFormat, str | None]:
    """Decode and verify the image; with ``with_text``, its base64 as text when it was
    canonical (strict alphabet and padding: it can be handed to a client unchanged; ASCII, as
    it passed the strict decoder). Lenient decoding comes second, and gives no text."""
    data = decode_b64_exact(b64)
    if data is not None:
        fmt = _verify(data)
        if not with_text:
            return data, fmt, None
        return data, fmt, b64 if isinstance(b64, str) else str(b64, "ascii")
    text = b64 if isinstance(b64, str) else str(b64, "ascii", errors="replace")
    try:  # without line breaks, so that missing padding is counted right
        data = decode_b64("".join(text.split()))
    except ValueError as exc:
        raise NotAnImage(f"the carrier's base64 is invalid ({exc})") from None
    return data, _verify(data), None


def _verify(data: bytes) -> ImageFormat:
    try:
        return verify(data)
    except BadImage as exc:
        raise NotAnImage(f"the carrier's output is unusable: {exc.detail}") from None
