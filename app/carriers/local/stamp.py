"""The label the offline renderer puts on every picture: model, size and quality, in white on an
opaque black box in the top-left corner, so an offline image says what was asked for."""

from __future__ import annotations

import math

from PIL import Image, ImageDraw, ImageFont


def stamp_text(model: str, size: str, quality: str) -> str:
    return " | ".join(part for part in (model, size, quality) if part)


def stamp_box(width: int, height: int, text: str) -> tuple[int, int, int, int]:
    """Where the stamp of ``text`` goes on a ``width`` x ``height`` picture."""
    return _layout(width, height, text)[0]


def stamp(picture: Image.Image, model: str, size: str, quality: str) -> None:
    """Draw the stamp on ``picture`` in place (opaque even on a transparent picture)."""
    text = stamp_text(model, size, quality)
    box, origin, font = _layout(picture.width, picture.height, text)
    opaque = (255,) if picture.mode == "RGBA" else ()
    pen = ImageDraw.Draw(picture)
    pen.rectangle(box, fill=(0, 0, 0, *opaque))
    pen.text(origin, text, font=font, fill=(255, 255, 255, *opaque))


Box = tuple[int, int, int, int]
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def _layout(width: int, height: int, text: str) -> tuple[Box, tuple[float, float], Font]:
    """The box (left, top, right, bottom), where the text starts, and the font."""
    size = max(12, min(width, height) // 40)
    font = ImageFont.load_default(size=size)
    left, top, right, bottom = ImageDraw.Draw(Image.new("L", (1, 1))).textbbox(
        (0, 0), text, font=font
    )
    pad = max(2, size // 3)
    box = (
        pad,
        pad,
        pad + math.ceil(right - left) + 2 * pad,
        pad + math.ceil(bottom - top) + 2 * pad,
    )
    return box, (2 * pad - left, 2 * pad - top), font
