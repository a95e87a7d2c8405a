"""Width and height of an image the gateway already checked (``images.sniff``), read from its
header only: a few bytes for PNG and WebP, the segments before the frame header for JPEG.
For the image index, where a full structural check (``images.inspect``) would cost a walk
through megabytes of a finished output."""

from __future__ import annotations

import struct

from app.domain import ImageFormat

_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_MAX_SEGMENTS = 256


def dimensions(data: bytes, fmt: ImageFormat) -> tuple[int, int] | None:
    """(width, height), or None when the header does not say."""
    try:
        if fmt == "png":
            return _pair(struct.unpack(">II", data[16:24]))
        if fmt == "webp":
            return _webp(data)
        return _jpeg(data)
    except (struct.error, IndexError):
        return None


def _pair(values: tuple[int, ...]) -> tuple[int, int] | None:
    width, height = values
    return (width, height) if width > 0 and height > 0 else None


def _webp(data: bytes) -> tuple[int, int] | None:
    kind = data[12:16]
    if kind == b"VP8 ":
        width, height = struct.unpack("<HH", data[26:30])
        return _pair((width & 0x3FFF, height & 0x3FFF))
    if kind == b"VP8L":
        (bits,) = struct.unpack("<I", data[21:25])
        return _pair(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1))
    if kind == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return _pair((width, height))
    return None


def _jpeg(data: bytes) -> tuple[int, int] | None:
    position = 2
    for _ in range(_JPEG_MAX_SEGMENTS):
        while data[position : position + 1] == b"\xff":
            position += 1
        marker = data[position]
        position += 1
        if 0xD0 <= marker <= 0xD8 or marker == 0x01:  # standalone markers carry no length
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no frame header before it
            return None
        (length,) = struct.unpack(">H", data[position : position + 2])
        if marker in _JPEG_SOF:
            height, width = struct.unpack(">HH", data[position + 3 : position + 7])
            return _pair((width, height))
        position += length
    return None
