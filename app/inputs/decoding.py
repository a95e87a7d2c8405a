"""Decoding pixels: never past the pixel cap, and never more pixels at once than the budget.

A 190 KB PNG can declare a 7000 x 7000 canvas that decodes to 200 MB; sixteen of them at once
would take 3 GB. So every Pillow decode in the gateway goes through :class:`Decoder`:

- :meth:`Decoder.decode` (and ``open``) read the dimensions from the header
  (``app.inputs.images.inspect``, no Pillow involved) and refuse a canvas over
  ``server.max_input_pixels`` before Pillow sees the file; Pillow's size must then agree.
- A common PNG (8-bit, not interlaced) is decoded a band of rows at a time straight to the
  size needed (``app.inputs.png_bands``): one band in memory, whatever the canvas, and none
  of the chunks after the pixels (Pillow reads each of those whole).
- :meth:`Decoder.hold` is a process-wide, asyncio-friendly budget of pixels being decoded at
  once (``server.max_decoding_pixels``), weighted by pixels: callers wait their turn, in order,
  before handing the decode to a worker thread. A decode larger than the whole budget runs alone.
- Other images: :func:`decode_near` decodes straight to about the size needed (JPEG draft
  scaling, else an integer ``reduce`` right after decoding): one full-size bitmap at a time.
- While any decode holds the budget, large blocks come straight from the OS
  (``app.inputs.allocator``), and after a large decode :func:`release_memory` gives freed
  pages back to the OS (glibc keeps them otherwise, and RSS would stay at its peak). Between
  decodes, a request's large buffers come from the heap and are reused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections import deque
from collections.abc import AsyncIterator
from typing import BinaryIO

from PIL import Image

from app.inputs import allocator, png_bands
from app.inputs.allocator import release_memory
from app.inputs.images import BadImage, ImageInfo, inspect

log = logging.getLogger(__name__)

# Modes Pillow's ``reduce`` takes; others (P, 1, I;16) are scaled down with NEAREST.
_REDUCIBLE = frozenset({"L", "LA", "La", "RGB", "RGBA", "RGBa", "CMYK", "YCbCr", "I", "F"})
_PREMULTIPLIED = frozenset({"LA", "RGBA"})  # reduced through a premultiplied copy
_BAND_PIXELS = 1_000_000
_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
# Decodes at least this large give their memory back to the OS afterwards.
LARGE_DECODE_PIXELS = 4_000_000


class Decoder:
    """The pixel cap and the process-wide decode budget; one per process (``app.wiring``)."""

    def __init__(self, max_pixels: int, budget_pixels: int) -> None:
        self.max_pixels = max_pixels
        self.budget = budget_pixels
        self._used = 0
        self._holders = 0  # holds granted and not yet ended (a weight of 0 included)
        self._waiting: deque[tuple[int, asyncio.Future[None]]] = deque()

    def decode(self, stream: BinaryIO, size: int, target: tuple[int, int]) -> Image.Image:
        """The image at about ``target`` (see :func:`decode_near`); a common PNG in bands of rows
        (``app.inputs.png_bands``), never whole. Raises :class:`BadImage`; blocking."""
        info = inspect(stream, size, self.max_pixels)
        factor = _factor((info.width, info.height), target)
        if info.format == "png":
            try:
                reduced = png_bands.decode_reduced(stream, factor)
            except (ValueError, zlib.error):
                raise BadImage("corrupt", "the image data is corrupt", "png") from None
            if reduced is not None:
                return reduced
        return decode_near(self._open(stream, info), target)

    def cost(self, head: bytes, size: tuple[int, int], target: tuple[int, int]) -> int:
        """Pixels in memory at once to decode an image of ``size`` that starts with ``head``
        at about ``target``: what to :meth:`hold` for it."""
        factor = _factor(size, target)
        if png_bands.takes(head):
            return png_bands.BAND_PIXELS + (size[0] // factor) * (size[1] // factor)
        return size[0] * size[1]

    def open(self, stream: BinaryIO, size: int) -> Image.Image:
        """A Pillow image whose header was checked against the cap (pixels not decoded yet).
        Raises :class:`BadImage`. Blocking: call it from a worker thread."""
        return self._open(stream, inspect(stream, size, self.max_pixels))

    def _open(self, stream: BinaryIO, info: ImageInfo) -> Image.Image:
        stream.seek(0)
        try:
            image = Image.open(stream, formats=[_FORMATS[info.format]])
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
            raise BadImage("corrupt", "the image cannot be read", info.format) from None
        if image.size != (info.width, info.height):
            image.close()
            raise BadImage("corrupt", "its header sizes disagree", info.format)
        return image

    @contextlib.asynccontextmanager
    async def hold(self, pixels: int) -> AsyncIterator[None]:
        """Wait until ``pixels`` more can be decoded at once, and hold them for the block."""
        weight = max(0, min(pixels, self.budget))
        await self._acquire(weight)
        if not self._holders:
            allocator.decoding()
        self._holders += 1
        try:
            yield
        finally:
            self._holders -= 1
            if not self._holders:
                allocator.serving()
            self._release(weight)

    @property
    def in_use(self) -> int:
        """Pixels currently held."""
        return self._used

    async def _acquire(self, weight: int) -> None:
        if not self._waiting and self._used + weight <= self.budget:
            self._used += weight
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (weight, granted)
        self._waiting.append(entry)
        try:
            await granted
        except BaseException:
            if granted.done() and not granted.cancelled():
                self._release(weight)  # granted just as we were cancelled: give it back
            else:
                self._waiting.remove(entry)
                self._wake()
            raise

    def _release(self, weight: int) -> None:
        self._used -= weight
        self._wake()

    def _wake(self) -> None:
        """Grant waiters in arrival order while they fit (no overtaking: big ones do not starve)."""
        while self._waiting and self._used + self._waiting[0][0] <= self.budget:
            weight, granted = self._waiting.popleft()
            if not granted.done():
                self._used += weight
                granted.set_result(None)


def decode_near(image: Image.Image, target: tuple[int, int]) -> Image.Image:
    """Decode ``image`` to at least ``target`` in each dimension (never upscaled), as small as
    integer scaling allows; the full-size bitmap, if any, is dropped before returning."""
    width, height = image.size
    if image.format == "JPEG":
        image.draft(image.mode, target)  # decode at 1/2, 1/4 or 1/8 scale if that is enough
    image.load()
    factor = _factor(image.size, target)
    if factor >= 2:
        if image.mode in _PREMULTIPLIED:
            image = _reduce_in_bands(image, factor)
        elif image.mode in _REDUCIBLE:
            image = image.reduce(factor)
        else:
            size = (image.width // factor, image.height // factor)
            image = image.resize(size, Image.Resampling.NEAREST)
    if width * height >= LARGE_DECODE_PIXELS:
        release_memory()
    return image


def _factor(size: tuple[int, int], target: tuple[int, int]) -> int:
    """The integer scale-down that keeps at least ``target`` in both dimensions."""
    return max(1, min(size[0] // max(1, target[0]), size[1] // max(1, target[1])))


def _reduce_in_bands(image: Image.Image, factor: int) -> Image.Image:
    """``reduce`` for modes with alpha, a band of rows at a time: Pillow premultiplies a whole
    copy of the image first (another 200 MB for a 7000 x 7000 RGBA)."""
    out = Image.new(image.mode, (image.width // factor, image.height // factor))
    rows = factor * max(1, _BAND_PIXELS // (image.width * factor))
    width, height = out.width * factor, out.height * factor
    for top in range(0, height, rows):
        band = image.crop((0, top, width, min(top + rows, height)))
        out.paste(band.reduce(factor), (0, top // factor))
    return out


def tune_allocator() -> None:
    """The allocator's state between decodes (``app.inputs.allocator``); called at start."""
    allocator.serving()
