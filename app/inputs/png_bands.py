"""Big PNGs decoded a band of rows at a time, each band scaled down at once.

Pillow decodes a PNG into one full-size bitmap: 200 MB for a 7071 x 7071 RGBA that deflates to
190 KB. When the picture is wanted at a fraction of its size (the offline carrier's edits), the
image data is inflated here in bounded pieces instead, and each band of rows is handed to
Pillow's own PNG row decoder (its ``zip`` decoder: the filters, as for any PNG) as a small
stand-alone image, preceded by the previous band's last row, unfiltered, for the filters that
look up. Each band is reduced by an integer factor and pasted into the small result, so memory
is one band and the result, whatever the canvas.

Only the common case takes this path (8-bit grey, RGB, grey+alpha or RGBA, not interlaced);
:func:`decode_reduced` returns None for the rest, which the caller decodes whole.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from typing import BinaryIO

from PIL import Image

_MODES = {0: ("L", 1), 2: ("RGB", 3), 4: ("LA", 2), 6: ("RGBA", 4)}  # colour type: mode, bytes
_READ = 64 * 1024


BAND_PIXELS = 1_000_000  # about the pixels of one band


def _header(head: bytes) -> tuple[int, int, str, int] | None:
    """Width, height, mode and bytes per pixel of a PNG this decoder takes, from its first 29
    bytes; None for any other."""
    if len(head) < 29 or head[12:16] != b"IHDR":
        return None
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", head[16:29])
    if depth != 8 or interlace or colour not in _MODES or width == 0:
        return None
    return width, height, *_MODES[colour]


def takes(head: bytes) -> bool:
    """Whether a PNG starting with ``head`` (29 bytes) can be decoded in bands."""
    return _header(head) is not None


def decode_reduced(stream: BinaryIO, factor: int) -> Image.Image | None:
    """The PNG in ``stream`` reduced by ``factor`` (box average; 1 keeps its size), or None
    when it is not one this decoder takes. ValueError (or ``zlib.error``) when its image data
    is corrupt. Chunks after the image data are never read (Pillow reads each whole)."""
    stream.seek(0)
    header = _header(stream.read(29))
    if header is None or factor < 1:
        return None
    stream.seek(4, 1)
    return _Bands(stream, *header, factor).decode()


class _Bands:
    def __init__(
        self, stream: BinaryIO, width: int, height: int, mode: str, channels: int, factor: int
    ) -> None:
        self.stream = stream
        self.width = width
        self.mode = mode
        self.factor = factor
        self.stride = 1 + width * channels
        self.rows = factor * max(1, BAND_PIXELS // (width * factor))  # per band
        self.out = Image.new(mode, (width // factor, height // factor))
        self.needed = self.out.height * factor  # rows that make whole output rows
        self.done = 0
        self.previous: bytes | None = None  # the last row decoded, unfiltered

    def decode(self) -> Image.Image:
        pending = bytearray()
        band_bytes = self.rows * self.stride
        for piece in _inflated(self.stream, band_bytes):
            pending += piece
            while len(pending) >= band_bytes and self.done < self.needed:
                self._band(pending, min(self.rows, self.needed - self.done))
            if self.done >= self.needed:
                return self.out
        left = min(len(pending) // self.stride, self.needed - self.done)
        if left - left % self.factor:
            self._band(pending, left - left % self.factor)
        if self.done < self.needed:
            raise ValueError("the image data is short")
        return self.out

    def _band(self, pending: bytearray, count: int) -> None:
        """Decode the first ``count`` rows of ``pending`` (a multiple of the factor), drop them."""
        pack = zlib.compressobj(0)  # stored: Pillow's decoder takes a zlib stream
        first = 0 if self.previous is None else 1
        packed = pack.compress(b"\0" + self.previous) if self.previous is not None else b""
        with memoryview(pending) as view:
            packed += pack.compress(view[: count * self.stride]) + pack.flush()
        del pending[: count * self.stride]
        size = (self.width, first + count)
        band = Image.frombytes(self.mode, size, packed, "zip", self.mode)
        last = first + count
        self.previous = band.crop((0, last - 1, self.width, last)).tobytes("raw", self.mode)
        box = (0, first, self.out.width * self.factor, last)
        piece = band.reduce(self.factor, box) if self.factor > 1 else band.crop(box)
        self.out.paste(piece, (0, self.done // self.factor))
        self.done += count


def _inflated(stream: BinaryIO, limit: int) -> Iterator[bytes]:
    """The inflated image data, in pieces of at most ``limit`` bytes."""
    inflate = zlib.decompressobj()
    for data in _image_data(stream):
        while data:
            piece = inflate.decompress(data, limit)
            data = inflate.unconsumed_tail
            if piece:
                yield piece
        while piece := inflate.decompress(b"", limit):  # output zlib still holds
            yield piece


def _image_data(stream: BinaryIO) -> Iterator[bytes]:
    """The payload of the IDAT chunks, in pieces, up to the first chunk after them."""
    seen = False
    while True:
        head = stream.read(8)
        if len(head) != 8:
            return
        length, kind = struct.unpack(">I4s", head)
        if kind != b"IDAT":
            if seen or kind == b"IEND":
                return
            stream.seek(length + 4, 1)
            continue
        seen = True
        while length > 0:
            piece = stream.read(min(length, _READ))
            if not piece:
                return
            length -= len(piece)
            yield piece
        stream.seek(4, 1)
