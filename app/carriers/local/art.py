"""Deterministic offline pictures for the ``local`` carrier, drawn with Pillow.

The picture is a function of the prompt and the parameters: colours and shapes come from a
hash, and the prompt itself is written on it, so two prompts give two visibly different images
and the same request always gives the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import textwrap
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFilter, ImageFont


@dataclass(frozen=True, slots=True)
class Canvas:
    prompt: str
    width: int
    height: int
    output_format: str  # png | jpeg | webp
    transparent: bool
    compression: int | None
    variant: int


def _palette(seed: bytes) -> list[tuple[int, int, int]]:
    return [(seed[i], seed[i + 1], seed[i + 2]) for i in range(0, 24, 3)]


def draw(canvas: Canvas) -> Image.Image:
    """The picture for ``canvas`` (RGBA when transparent, else RGB)."""
    seed = hashlib.sha256(f"{canvas.variant}\x00{canvas.prompt}".encode()).digest()
    colours = _palette(seed)
    w, h = canvas.width, canvas.height
    small = Image.linear_gradient("L").resize((64, 64)).rotate(seed[30] % 360)
    base = Image.composite(
        Image.new("RGB", (64, 64), colours[0]), Image.new("RGB", (64, 64), colours[1]), small
    ).resize((w, h), Image.Resampling.BICUBIC)
    pen = ImageDraw.Draw(base)
    unit = min(w, h)
    for i in range(6):
        x = seed[i + 8] / 255 * w
        y = seed[i + 14] / 255 * h
        r = unit * (0.08 + seed[i + 20] / 255 * 0.22)
        box = (x - r, y - r, x + r, y + r)
        if i % 2:
            pen.ellipse(box, fill=colours[2 + i % 6])
        else:
            pen.rectangle(box, fill=colours[2 + i % 6])
    _write_prompt(pen, canvas.prompt, w, h)
    if not canvas.transparent:
        return base
    mask = Image.new("L", (w, h), 0)
    ImageDraw.Draw(mask).ellipse((w * 0.04, h * 0.04, w * 0.96, h * 0.96), fill=255)
    rgba = base.convert("RGBA")
    rgba.putalpha(mask)
    return rgba


def _write_prompt(pen: ImageDraw.ImageDraw, prompt: str, w: int, h: int) -> None:
    size = max(12, min(w, h) // 24)
    font = ImageFont.load_default(size=size)
    columns = max(8, int(w * 0.8 / (size * 0.55)))
    lines = textwrap.wrap(" ".join(prompt.split()), columns)[:6] or [" "]
    text = "\n".join(lines)
    left, top, right, bottom = pen.multiline_textbbox((0, 0), text, font=font)
    origin = ((w - (right - left)) // 2, (h - (bottom - top)) // 2)
    pen.multiline_text(
        origin,
        text,
        font=font,
        fill=(255, 255, 255),
        stroke_width=max(1, size // 12),
        stroke_fill=(0, 0, 0),
    )


def blur(image: Image.Image, level: int, levels: int) -> Image.Image:
    """A rougher version of ``image`` for partial results: level 0 is the roughest."""
    radius = max(1, min(image.size) // 20) * (levels - level) / max(levels, 1)
    return image.filter(ImageFilter.GaussianBlur(radius))


def encode(image: Image.Image, output_format: str, compression: int | None) -> bytes:
    out = io.BytesIO()
    if output_format == "jpeg":
        quality = 90 if compression is None else max(1, compression)
        image.convert("RGB").save(out, "JPEG", quality=quality)
    elif output_format == "webp":
        if compression is None:
            image.save(out, "WEBP", lossless=True, method=0)
        else:
            image.save(out, "WEBP", quality=compression, method=0)
    else:
        image.save(out, "PNG", compress_level=3)
    return out.getvalue()
