"""Carrier images are verified whole: every PNG chunk and its CRC, JPEG segments and EOI, the
WebP RIFF chunk walk. Whatever Pillow writes passes; any cut or flipped byte that breaks the
structure is refused, by its problem, without decoding pixels."""

from __future__ import annotations

import struct
import zlib

import pytest

from app.inputs.images import BadImage
from app.inputs.verify import verify
from tests.unit.test_images import SAMPLES, encode, noise


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


PNG = SAMPLES["png-rgb"][0]
JPEG = SAMPLES["jpeg"][0]
WEBP = SAMPLES["webp-lossy"][0]
HEADER = PNG[8:33]  # the IHDR chunk


@pytest.mark.parametrize("name", SAMPLES)
def test_every_image_pillow_writes_passes(name: str) -> None:
    assert verify(SAMPLES[name][0]) == name.split("-")[0]


@pytest.mark.parametrize(
    "name", ["png-rgb", "jpeg", "jpeg-progressive", "webp-lossy", "webp-lossless"]
)
@pytest.mark.parametrize("keep", [0.5, 0.9, -1])
def test_a_truncated_image_is_refused(name: str, keep: float) -> None:
    data = SAMPLES[name][0]
    cut = data[: int(len(data) * keep) if keep > 0 else int(keep)]
    with pytest.raises(BadImage) as caught:
        verify(cut)
    assert caught.value.problem in ("truncated", "corrupt")
    assert caught.value.format == name.split("-")[0]


def test_a_flipped_byte_inside_png_pixel_data_fails_its_crc() -> None:
    data = bytearray(PNG)
    data[len(data) // 2] ^= 0x40
    with pytest.raises(BadImage, match="CRC"):
        verify(bytes(data))


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (PNG + b"tail", "follow the IEND"),
        (b"\x89PNG\r\n\x1a\n" + HEADER + png_chunk(b"IEND", b""), "no IDAT"),
        (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IDAT", zlib.compress(b"\0")) + HEADER, "IHDR"),
        (PNG[:-12], "no IEND"),
        (JPEG[:-2] + b"\0\0", "end-of-image"),
        (b"\xff\xd8\xff\xd9", "no scan"),
        (WEBP[:4] + struct.pack("<I", len(WEBP) - 4) + WEBP[8:] + b"\0\0", "RIFF size"),
        (b"RIFF" + struct.pack("<I", 12) + b"WEBPJUNK\0\0\0\0", "image chunk"),
        (b"not an image at all", "not a PNG"),
    ],
)
def test_structural_problems_are_named(data: bytes, why: str) -> None:
    with pytest.raises(BadImage, match=why):
        verify(data)


def test_a_large_png_is_walked_chunk_by_chunk() -> None:
    """Pillow splits big IDATs; every one of them is checked (a flip in the last one too)."""
    image = encode(noise((700, 700)), "PNG")
    assert image.count(b"IDAT") > 1
    assert verify(image) == "png"
    damaged = bytearray(image)
    damaged[-20] ^= 1
    with pytest.raises(BadImage, match="CRC"):
        verify(bytes(damaged))
