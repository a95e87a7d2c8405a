"""Deterministic offline pictures for the ``local`` carrier, drawn with Pillow.

This is a placeholder renderer, not an image model. The picture is a function of the request:
colours and shapes come from a hash of the prompt, the prompt is written across it, and a stamp
in the top-left corner names the model, size and quality. Quality sets the level of detail,
so trying parameters offline shows their effect: ``low`` is flat and coarse (a few big blocks),
``medium`` (and ``standard``, ``auto``) smooth shapes on a gradient, ``high`` (and ``hd``)
adds outlines and many small shapes and lines, ``xhigh`` and ``max`` finer texture still. The
same request always gives the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import random
import textwrap
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from app.carriers.local.stamp import stamp

RGB = tuple[int, int, int]

# Quality -> level of detail: 0 flat and coarse ... 3 finest. Unknown values draw as medium.
DETAIL = {"low": 0, "medium": 1, "standard": 1, "auto": 1, "high": 2, "hd": 2, "xhigh": 3, "max": 3}
_COARSE_CELLS = 24  # the low-detail picture is this many blocks across its shorter side


@dataclass(frozen=True, slots=True)
class Canvas:
    prompt: str
    width: int
    height: int
    output_format: str  # png | jpeg | webp
    transparent: bool
    compression: int | None
    variant: int
    model: str = ""
    quality: str = "medium"  # as answered: ``auto`` already resolved


def _palette(seed: bytes) -> list[RGB]:
    return [(seed[i], seed[i + 1], seed[i + 2]) for i in range(0, 24, 3)]


def draw(canvas: Canvas, *, stamped: bool = True) -> Image.Image:
    """The picture for ``canvas`` (RGBA when transparent, else RGB), stamped unless told not
    to be (edits stamp the composed picture instead)."""
    seed = hashlib.sha256(f"{canvas.variant}\x00{canvas.prompt}".encode()).digest()
    level = DETAIL.get(canvas.quality, 1)
    w, h = canvas.width, canvas.height
    if level == 0:
        cell = max(1, min(w, h) // _COARSE_CELLS)
        small = _scene(-(-w // cell), -(-h // cell), seed, level)
        base = small.resize((w, h), Image.Resampling.NEAREST)
    else:
        base = _scene(w, h, seed, level)
    pen = ImageDraw.Draw(base)
    _write_prompt(pen, canvas.prompt, w, h)
    if canvas.transparent:
        mask = Image.new("L", (w, h), 0)
        ImageDraw.Draw(mask).ellipse((w * 0.04, h * 0.04, w * 0.96, h * 0.96), fill=255)
        picture = base.convert("RGBA")
        picture.putalpha(mask)
    else:
        picture = base
    if stamped:
        stamp(picture, canvas.model, f"{w}x{h}", canvas.quality)
    return picture


def _scene(w: int, h: int, seed: bytes, level: int) -> Image.Image:
    """Background and shapes: flat at level 0, a gradient and outlined detail above."""
    colours = _palette(seed)
    if level == 0:
        base = Image.new("RGB", (w, h), colours[0])
    else:
        ramp = Image.linear_gradient("L").resize((64, 64)).rotate(seed[30] % 360)
        base = Image.composite(
            Image.new("RGB", (64, 64), colours[0]), Image.new("RGB", (64, 64), colours[1]), ramp
        ).resize((w, h), Image.Resampling.BICUBIC)
    pen = ImageDraw.Draw(base)
    unit = min(w, h)
    outline = max(1, unit // 256) if level >= 2 else 0
    for i in range(6 if level else 3):
        x = seed[i + 8] / 255 * w
        y = seed[i + 14] / 255 * h
        r = unit * (0.08 + seed[i + 20] / 255 * 0.22) * (1.6 if level == 0 else 1)
        box = (x - r, y - r, x + r, y + r)
        shape = pen.ellipse if i % 2 else pen.rectangle
        shape(box, fill=colours[2 + i % 6], outline=(0, 0, 0) if outline else None, width=outline)
    if level >= 2:
        _details(pen, w, h, random.Random(seed), colours, level)
    return base


def _details(
    pen: ImageDraw.ImageDraw, w: int, h: int, rng: random.Random, colours: list[RGB], level: int
) -> None:
    """Many small shapes and thin lines: what ``high`` adds, and more of them for ``xhigh``."""
    unit = min(w, h)
    shapes, lines = (160, 80) if level == 2 else (480, 240)
    for _ in range(shapes):
        x, y = rng.random() * w, rng.random() * h
        r = unit * (0.004 + rng.random() * 0.03)
        tint = _shade(rng.choice(colours), rng.randint(-60, 60))
        shape = pen.ellipse if rng.random() < 0.5 else pen.rectangle
        shape((x - r, y - r, x + r, y + r), fill=tint, outline=_shade(tint, -80))
    for _ in range(lines):
        start = (rng.random() * w, rng.random() * h)
        end = (
            start[0] + (rng.random() - 0.5) * unit * 0.3,
            start[1] + (rng.random() - 0.5) * unit * 0.3,
        )
        pen.line((start, end), fill=_shade(rng.choice(colours), rng.randint(-90, 90)), width=1)


def _shade(colour: RGB, delta: int) -> RGB:
    r, g, b = (max(0, min(255, c + delta)) for c in colour)
    return (r, g, b)


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
