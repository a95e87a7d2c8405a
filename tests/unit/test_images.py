"""Input images are judged by their bytes: header-only dimensions, alpha, truncation, pixel cap."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import pytest
from PIL import Image

from app.inputs.images import BadImage, ImageInfo, inspect, sniff


def encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def check(data: bytes, max_pixels: int = 10**8) -> ImageInfo:
    return inspect(io.BytesIO(data), len(data), max_pixels)


def noise(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    image = Image.effect_noise(size, 60).convert(mode)
    if mode in ("RGBA", "LA"):
        image.putalpha(Image.linear_gradient("L").resize(size))
    return image


SAMPLES = {
    "png-rgb": (encode(noise((40, 30)), "PNG"), False),
    "png-rgba": (encode(noise((40, 30), "RGBA"), "PNG"), True),
    "png-la": (encode(noise((40, 30), "LA"), "PNG"), True),
    "png-l": (encode(noise((40, 30), "L"), "PNG"), False),
    "png-palette": (encode(noise((40, 30), "P"), "PNG"), False),
    "png-1bit": (encode(noise((40, 30), "1"), "PNG"), False),
    "png-16bit": (encode(Image.new("I;16", (40, 30)), "PNG"), False),
    "png-interlaced": (encode(noise((40, 30)), "PNG", interlace=1), False),
    "jpeg": (encode(noise((300, 200)), "JPEG"), False),
    "jpeg-progressive": (encode(noise((300, 200)), "JPEG", progressive=True), False),
    "jpeg-grey": (encode(noise((300, 200), "L"), "JPEG"), False),
    "jpeg-cmyk": (encode(noise((30, 20), "CMYK"), "JPEG"), False),
    "jpeg-restart-markers": (encode(noise((300, 200)), "JPEG", restart_marker_blocks=1), False),
    "webp-lossy": (encode(noise((40, 30)), "WEBP"), False),
    "webp-lossless": (encode(noise((40, 30)), "WEBP", lossless=True), False),
    "webp-alpha": (encode(noise((40, 30), "RGBA"), "WEBP", lossless=True), True),
    "webp-alpha-lossy": (encode(noise((40, 30), "RGBA"), "WEBP"), True),
    "webp-animated": (
        encode(noise((40, 30)), "WEBP", save_all=True, append_images=[noise((40, 30))]),
        False,
    ),
}


@pytest.mark.parametrize("name", SAMPLES)
def test_dimensions_and_alpha_match_pillow(name: str) -> None:
    data, alpha = SAMPLES[name]
    info = check(data)
    with Image.open(io.BytesIO(data)) as reference:
        assert (info.width, info.height) == reference.size
        assert info.format == (reference.format or "").lower()
    assert info.has_alpha is alpha


@pytest.mark.parametrize("name", SAMPLES)
def test_truncated_files_are_refused(name: str) -> None:
    data, _ = SAMPLES[name]
    for cut in sorted({len(data) - 1, len(data) - 3, len(data) * 2 // 3, len(data) // 2, 40, 14}):
        with pytest.raises(BadImage) as info:
            check(data[:cut])
        assert info.value.problem in ("truncated", "corrupt"), cut


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, I am a text file named cat.png",
        b"GIF89a" + b"\0" * 40,
        b"%PDF-1.7\n" * 4,
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
    ],  # fmt: skip
)
def test_other_bytes_are_not_images(data: bytes) -> None:
    with pytest.raises(BadImage) as info:
        check(data)
    assert info.value.problem == "not_an_image"
    assert sniff(data[:16]) is None


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def test_a_decompression_bomb_is_refused_from_its_header() -> None:
    """A 100000x100000 PNG header: refused before any pixel data is even looked for."""
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", 100_000, 100_000, 8, 6, 0, 0, 0))
    bomb = b"\x89PNG\r\n\x1a\n" + header + png_chunk(b"IDAT", zlib.compress(b"\0" * 1000))
    with pytest.raises(BadImage) as info:
        check(bomb, max_pixels=50_000_000)
    assert info.value.problem == "too_many_pixels"
    assert "100000x100000" in info.value.detail


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_the_pixel_cap_applies_to_every_format(fmt: str) -> None:
    data = encode(Image.new("RGB", (300, 200)), fmt)
    assert check(data, max_pixels=60_000).width == 300
    with pytest.raises(BadImage) as info:
        check(data, max_pixels=59_999)
    assert info.value.problem == "too_many_pixels"


def test_a_png_with_many_idat_chunks_is_fine() -> None:
    raw = zlib.compress(b"".join(b"\0" + b"\x80" * 120 for _ in range(40)))
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", 40, 40, 8, 2, 0, 0, 0))
    chunks = b"".join(png_chunk(b"IDAT", raw[i : i + 7]) for i in range(0, len(raw), 7))
    data = b"\x89PNG\r\n\x1a\n" + header + chunks + png_chunk(b"IEND", b"")
    assert (check(data).width, Image.open(io.BytesIO(data)).size) == (40, (40, 40))


def test_a_png_without_iend_is_truncated() -> None:
    data = encode(noise((10, 10)), "PNG")
    with pytest.raises(BadImage) as info:
        check(data[: data.rindex(b"IEND") - 4])
    assert info.value.problem == "truncated"


def test_data_after_a_jpeg_end_marker_is_allowed() -> None:
    """Motion photos append a video after the JPEG's EOI; the image itself is complete."""
    data = encode(noise((64, 48)), "JPEG") + b"\0\0\0\x18ftypmp42" + b"\1" * 5000
    assert check(data).width == 64


def test_a_truncated_jpeg_with_a_complete_exif_thumbnail_is_refused() -> None:
    """The thumbnail inside APP1 ends with its own EOI; the walk skips it by length."""
    thumb = encode(noise((16, 16)), "JPEG")
    exif = Image.Exif()
    data = encode(noise((200, 150)), "JPEG", exif=exif.tobytes() + thumb)
    assert check(data).width == 200
    with pytest.raises(BadImage):
        check(data[: len(data) - 200])


def test_a_webp_shorter_than_its_riff_header_says_is_truncated() -> None:
    data = encode(noise((40, 30)), "WEBP")
    with pytest.raises(BadImage) as info:
        check(data[:-1])
    assert info.value.problem == "truncated"
