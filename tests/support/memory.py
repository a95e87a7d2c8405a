"""Memory of another process from /proc, and inputs built to cost memory: PNGs whose header
declares a huge canvas in a few hundred KB, and small PNGs padded to many MB."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from tests.support.images import png_bytes

MB = 1024 * 1024


def _status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} for process {pid}")


def peak_rss_mb(pid: int) -> float:
    """The process's high-water mark of resident memory (VmHWM)."""
    return _status_mb(pid, "VmHWM")


def rss_mb(pid: int) -> float:
    return _status_mb(pid, "VmRSS")


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def bomb_png(width: int, height: int) -> bytes:
    """A valid RGBA PNG of ``width`` x ``height`` transparent pixels, deflated as far as zlib
    goes (about 1/1000): 7071 x 7071 is 190 KB that decodes to 200 MB."""
    row = b"\0" * (1 + 4 * width)  # filter byte + pixels
    deflate = zlib.compressobj(9)
    rows_per_piece = max(1, (4 * MB) // len(row))
    parts = []
    for start in range(0, height, rows_per_piece):
        parts.append(deflate.compress(row * min(rows_per_piece, height - start)))
    parts.append(deflate.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", b"".join(parts))
        + _chunk(b"IEND", b"")
    )


def padded_png(size: int) -> bytes:
    """A valid, small PNG padded to ``size`` bytes with a private ancillary chunk."""
    image = png_bytes((64, 64))
    iend = image.rindex(b"IEND") - 4
    return image[:iend] + _chunk(b"prVt", b"\0" * (size - len(image) - 12)) + image[iend:]
