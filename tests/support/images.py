"""Pictures for tests: encoded bytes, masks, data URIs, and already-inspected input images."""

from __future__ import annotations

import base64
import io
import struct
import zlib

from PIL import Image

from app.domain import ImageFormat, InputImage, InputOrigin
from app.inputs.spool import MemoryBlob


def png_bytes(
    size: tuple[int, int] = (32, 32), colour: tuple[int, ...] = (200, 30, 30), mode: str = "RGB"
) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, colour).save(out, "PNG")
    return out.getvalue()


def mask_png(size: tuple[int, int] = (64, 64)) -> bytes:
    """An opaque RGBA mask with a transparent square (the part to edit) at (8, 8)-(40, 40)."""
    mask = Image.new("RGBA", size, (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (8, 8, 40, 40))
    out = io.BytesIO()
    mask.save(out, "PNG")
    return out.getvalue()


def data_uri(data: bytes, media: str = "image/png") -> str:
    return f"data:{media};base64,{base64.b64encode(data).decode()}"


def input_image(
    size: tuple[int, int] = (32, 32),
    fmt: ImageFormat = "png",
    *,
    param: str = "image",
    has_alpha: bool = False,
    byte_size: int | None = None,
    origin: InputOrigin = "upload",
) -> InputImage:
    """An already-inspected input image (for pure tests: the bytes are not looked at)."""
    return InputImage(
        blob=MemoryBlob(b"\0" * (byte_size if byte_size is not None else 16)),
        format=fmt,
        width=size[0],
        height=size[1],
        has_alpha=has_alpha,
        filename=f"input.{fmt}",
        param=param,
        origin=origin,
    )


def padded_png(extra: int, fill: bytes = b"\0") -> bytes:
    """A valid PNG at least ``extra`` bytes long: a tiny image with a private ancillary chunk
    (``prVt``, with its CRC) of that size, which decoders skip."""
    small = png_bytes((4, 4))
    data = (fill * extra)[:extra]
    chunk = struct.pack(">I", len(data)) + b"prVt" + data
    chunk += struct.pack(">I", zlib.crc32(b"prVt" + data))
    return small[:33] + chunk + small[33:]
