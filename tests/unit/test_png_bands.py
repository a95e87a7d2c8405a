"""Big PNGs decoded a band of rows at a time give exactly Pillow's own reduced picture."""

from __future__ import annotations

import io
import zlib

import pytest
from PIL import Image, ImageChops

from app.inputs.png_bands import decode_reduced, takes
from tests.support.memory import bomb_png


def noise(mode: str, size: tuple[int, int]) -> Image.Image:
    bands = [Image.effect_noise(size, 40 + 20 * i).convert("L") for i in range(len(mode))]
    return Image.merge(mode, bands)


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
@pytest.mark.parametrize("size", [(999, 1001), (3001, 17)])
@pytest.mark.parametrize("optimize", [False, True])  # optimize: every PNG row filter in use
def test_bands_give_pillows_own_reduced_picture(
    mode: str, size: tuple[int, int], optimize: bool
) -> None:
    picture = noise(mode, size)
    out = io.BytesIO()
    picture.save(out, "PNG", optimize=optimize)
    for factor in (1, 2, 7):
        got = decode_reduced(out, factor)
        assert got is not None
        whole = (size[0] // factor * factor, size[1] // factor * factor)
        want = picture.crop((0, 0, *whole)).reduce(factor)
        assert (got.mode, got.size) == (want.mode, want.size)
        assert ImageChops.difference(got, want).getbbox() is None


def test_other_pngs_are_left_to_a_whole_decode() -> None:
    out = io.BytesIO()
    Image.new("P", (64, 64)).save(out, "PNG")
    assert not takes(out.getvalue()[:29]) and decode_reduced(out, 2) is None
    plain = bomb_png(64, 64)
    assert takes(plain[:29])
    interlaced = plain[:28] + b"\x01" + plain[29:]  # IHDR's last byte: Adam7
    assert decode_reduced(io.BytesIO(interlaced), 2) is None
    out = io.BytesIO()
    Image.new("I;16", (64, 64)).save(out, "PNG")
    assert decode_reduced(out, 2) is None


def test_short_or_corrupt_image_data_is_an_error() -> None:
    data = bomb_png(500, 500)
    start = data.index(b"IDAT") + 4
    with pytest.raises((ValueError, zlib.error)):
        decode_reduced(io.BytesIO(data[:start] + b"\xff" * 8 + data[start + 8 :]), 2)
    short = bomb_png(500, 250)
    with pytest.raises(ValueError):
        decode_reduced(io.BytesIO(short[:16] + bomb_png(500, 500)[16:33] + short[33:]), 2)
