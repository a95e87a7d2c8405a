"""Offline edits for the ``local`` carrier: a picture that visibly derives from its inputs.

The first image, scaled and centre-cropped to the requested size, is the base. With a mask,
the mask's transparent area is repainted with the prompt's picture (``art.draw``);
without one, the prompt's picture is laid over the whole base, faintly. The other reference
images are composited in as framed thumbnails along the bottom, and the result is stamped
like a generated picture (model, size, quality). Inputs are decoded once per request, one at a
time, each straight to about the size needed, never past the pixel cap
(``app.inputs.decoding``); this runs in a worker thread, under the process's decode budget.
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
from app.inputs.decoding import Decoder
from app.inputs.images import BadImage

_RESAMPLE = Image.Resampling.BICUBIC
_UNMASKED_ART = 0.3  # how much of the prompt's picture shows through an edit without a mask


class UndecodableInput(Exception):
    """An input whose structure looked fine but whose pixel data does not decode."""

    def __init__(self, param: str, detail: str = "the image data is corrupt") -> None:
        super().__init__(f"Invalid file '{param}': {detail} and cannot be decoded.")
        self.param = param


@dataclass(frozen=True, slots=True)
class EditInputs:
    base: Image.Image  # RGBA, the canvas size
    repaint: Image.Image | None  # L: 255 where the mask is transparent (the area to edit)
    references: tuple[Image.Image, ...]  # RGBA thumbnails


def prepare(
    images: Sequence[InputImage],
    mask: InputImage | None,
    width: int,
    height: int,
    decoder: Decoder,
) -> EditInputs:
    size = (width, height)
    base = ImageOps.fit(_decode(images[0], size, decoder).convert("RGBA"), size, _RESAMPLE)
    repaint = None
    if mask is not None:
        decoded = _decode(mask, size, decoder).convert("RGBA")
        repaint = ImageOps.invert(ImageOps.fit(decoded, size, _RESAMPLE).getchannel("A"))
    side = _thumbnail_side(len(images) - 1, width, height)
    references = []
    for image in images[1:]:
        decoded = _decode(image, (side, side), decoder).convert("RGBA")
        thumb = ImageOps.contain(decoded, (side, side))
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


def _decode(image: InputImage, target: tuple[int, int], decoder: Decoder) -> Image.Image:
    """Pixels at about ``target`` (the stored orientation: a mask lines up with its image as
    sent). The bytes' own header is checked against the cap, whatever ``image`` says."""
    with image.blob.open() as stream:
        try:
            return decoder.decode(stream, image.blob.size, target)
        except BadImage as exc:
            raise UndecodableInput(image.param, exc.detail) from None
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
            raise UndecodableInput(image.param) from None


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
