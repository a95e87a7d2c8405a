"""Stored images' width and height, read from their headers (for the image index)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from app.domain import ImageFormat
from app.inputs.dimensions import dimensions


def encoded(fmt: str, size: tuple[int, int], **options: object) -> bytes:
    out = io.BytesIO()
    mode = "RGBA" if options.pop("alpha", False) else "RGB"
    Image.new(mode, size, (10, 20, 30)).save(out, fmt, **options)
    return out.getvalue()


@pytest.mark.parametrize(
    ("fmt", "name", "options"),
    [
        ("png", "PNG", {}),
        ("jpeg", "JPEG", {}),
        ("jpeg", "JPEG", {"progressive": True, "exif": b"Exif\x00\x00" + b"\x00" * 64}),
        ("webp", "WEBP", {"lossless": False}),  # VP8
        ("webp", "WEBP", {"lossless": True}),  # VP8L
        ("webp", "WEBP", {"alpha": True, "lossless": False}),  # VP8X
    ],
)
def test_each_format(fmt: ImageFormat, name: str, options: dict) -> None:
    assert dimensions(encoded(name, (321, 123), **options), fmt) == (321, 123)


def test_a_header_that_does_not_say_is_none() -> None:
    assert dimensions(b"\x89PNG\r\n\x1a\n", "png") is None
    assert dimensions(b"\xff\xd8\xff\xd9", "jpeg") is None
    assert dimensions(b"\xff\xd8\xff\xe0\x00", "jpeg") is None
    assert dimensions(b"RIFF\x00\x00\x00\x00WEBPXXXX", "webp") is None
