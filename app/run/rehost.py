"""Re-hosting: turn what a carrier produced (base64, a URL, or bytes) into a stored image.

Base64 of large images is decoded in a worker thread; small images (up to
``INLINE_DECODE_BYTES``) are decoded on the event loop, where it costs less than handing them to
a thread. Where the bytes go, and whether writing them needs a thread, is the storage's
business. An upstream URL is downloaded by the SSRF-safe fetcher (a carrier must not make us
fetch internal addresses), streaming, with a size cap and a timeout. Bytes must be a PNG, JPEG
or WebP.
"""

from __future__ import annotations

import asyncio
import logging

from app.config.schema import StorageConfig
from app.domain import ImageFormat, ResponseFormat, StoredImage, UpstreamImage
from app.inputs.dimensions import dimensions
from app.inputs.fetch import FetchError, SafeFetcher
from app.inputs.images import decode_b64, decode_b64_exact, encode_b64, sniff, sniff_b64
from app.inputs.spool import Spool
from app.storage import Storage

log = logging.getLogger(__name__)

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
        """Store ``image`` unless ephemeral; base64 is handed back unchanged when asked for,
        or when ``keep_b64`` (a stream's completed event carries it even for URL clients)."""
        store = response_format != "b64_ephemeral"
        want_b64 = keep_b64 or response_format != "url"
        if image.b64 is not None:
            if not store:
                text = _text(image.b64)
                fmt = sniff_b64(text)
                if fmt is None:
                    raise NotAnImage("the carrier's base64 is not a PNG, JPEG or WebP image")
                size = len(text) * 3 // 4
                return StoredImage(fmt, size, b64=text, revised_prompt=image.revised_prompt)
            data = await self._decode(image.b64)
        else:
            data = image.data if image.data is not None else await self._download(image.url or "")
        fmt = _check(data)
        ref = await self._storage.put(data, fmt) if store else None
        b64 = None
        if want_b64:
            b64 = _text(image.b64) if image.b64 is not None else encode_b64(data)
        measured = dimensions(data, fmt) if ref is not None else None
        width, height = measured if measured is not None else (None, None)
        return StoredImage(
            fmt,
            len(data),
            ref=ref,
            b64=b64,
            revised_prompt=image.revised_prompt,
            width=width,
            height=height,
        )

    async def _decode(self, b64: str | memoryview) -> bytes:
        if len(b64) * 3 // 4 <= INLINE_DECODE_BYTES:
            return _decode(b64)
        return await asyncio.to_thread(_decode, b64)

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


def _decode(b64: str | memoryview) -> bytes:
    """Raw base64 bytes take the strict decoder first, without building a str."""
    if isinstance(b64, memoryview):
        data = decode_b64_exact(b64)
        if data is not None:
            return data
        b64 = str(b64, "ascii", errors="replace")  # not ASCII: the decoder refuses it below
    try:
        return decode_b64(b64)
    except ValueError as exc:
        raise NotAnImage(f"the carrier's base64 is invalid ({exc})") from None


def _text(b64: str | memoryview) -> str:
    """The base64 as text for a client; raw bytes that are not ASCII are no image."""
    if isinstance(b64, str):
        return b64
    try:
        return str(b64, "ascii")
    except UnicodeDecodeError:
        raise NotAnImage("the carrier's base64 is not ASCII text") from None


def _check(data: bytes) -> ImageFormat:
    fmt = sniff(data[:16])
    if fmt is None:
        raise NotAnImage("the carrier's output is not a PNG, JPEG or WebP image")
    return fmt
