"""Offline edits for the ``local`` carrier: a picture that visibly derives from its inputs.

The first image, scaled and centre-cropped to the requested size, is the base. With a mask,
the mask's transparent area is repainted with the prompt's picture (``art.draw``);
without one, the prompt's picture is laid over the whole base, faintly. The other reference
images are composited in as framed thumbnails along the bottom, and the result is stamped
like a generated picture (model, size, quality). Inputs are decoded once per request, one at a
time, JPEGs at reduced scale; this runs in a worker thread.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageOps

from app.carriers.local.art import Canvas, draw
from app.carriers.local.stamp import stamp
from app.domain import InputImage

_RESAMPLE = Image.Resampling.BICUBIC
_UNMASKED_ART = 0.3  # how much of the prompt's picture shows through an edit without a mask


class UndecodableInput(Exception):
    """An input whose structure looked fine but whose pixel data does not decode."""

    def __init__(self, param: str) -> None:
        super().__init__(
            f"Invalid file '{param}': the image data is corrupt and cannot be decoded."
        )
        self.param = param


@dataclass(frozen=True, slots=True)
class EditInputs:
    base: Image.Image  # RGBA, the canvas size
    repaint: Image.Image | None  # L: 255 where the mask is transparent (the area to edit)
    references: tuple[Image.Image, ...]  # RGBA thumbnails


def prepare(
    images: Sequence[InputImage], mask: InputImage | None, width: int, height: int
) -> EditInputs:
    size = (width, height)
    base = ImageOps.fit(_decode(images[0], size).convert("RGBA"), size, _RESAMPLE)
    repaint = None
    if mask is not None:
        alpha = ImageOps.fit(_decode(mask, size).convert("RGBA"), size, _RESAMPLE).getchannel("A")
        repaint = ImageOps.invert(alpha)
    side = _thumbnail_side(len(images) - 1, width, height)
    references = []
    for image in images[1:]:
        thumb = ImageOps.contain(_decode(image, (side, side)).convert("RGBA"), (side, side))
        references.append(ImageOps.expand(thumb, border=max(1, side // 32), fill="white"))
    return EditInputs(base, repaint, tuple(references))


def compose(canvas: Canvas, inputs: EditInputs) -> Image.Image:
    """One edited picture (RGBA when the canvas is transparent, else RGB)."""
    art = draw(dataclasses.replace(canvas, transparent=False), stamped=False).convert("RGBA")
    if inputs.repaint is not None:
        picture = Image.composite(art, inputs.base, inputs.repaint)
    else:
        picture = Image.blend(inputs.base, art, _UNMASKED_ART)
        picture.putalpha(inputs.base.getchannel("A"))
    _paste_references(picture, inputs.references)
    result = picture if canvas.transparent else picture.convert("RGB")
    stamp(result, canvas.model, f"{canvas.width}x{canvas.height}", canvas.quality)
    return result


def _decode(image: InputImage, target: tuple[int, int]) -> Image.Image:
    """Decoded pixels (the stored orientation: a mask lines up with its image as sent)."""
    with image.blob.open() as stream:
        try:
            opened = Image.open(stream)
            if opened.format == "JPEG":
                opened.draft("RGB", target)  # decode at 1/2, 1/4 or 1/8 scale if that is enough
            opened.load()
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
            raise UndecodableInput(image.param) from None
        return opened


def _thumbnail_side(count: int, width: int, height: int) -> int:
    if count == 0:
        return 1
    per_row = max(4, math.ceil(math.sqrt(count)) + 2)
    return max(8, min(width // per_row, height // 4))


def _paste_references(picture: Image.Image, references: Sequence[Image.Image]) -> None:
    if not references:
        return
    margin = max(2, min(picture.size) // 64)
    x, y = margin, picture.height - margin
    row_height = 0
    for thumb in references:
        if x + thumb.width > picture.width - margin:
            x, y = margin, y - row_height - margin
            row_height = 0
        picture.alpha_composite(thumb, (x, max(0, y - thumb.height)))
        x += thumb.width + margin
        row_height = max(row_height, thumb.height)
