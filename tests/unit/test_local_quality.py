"""Offline, parameters show: quality sets the level of detail (measured), and every picture,
generated or edited, carries a stamp naming its model, size and quality."""

from __future__ import annotations

import dataclasses
import io
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageFilter, ImageStat

from app.carriers.base import CarrierTools
from app.carriers.local.carrier import LocalCarrier
from app.carriers.local.options import LocalConfig
from app.carriers.local.stamp import stamp, stamp_box, stamp_text
from app.core.catalog import Route
from app.domain import ImageJob, InputImage
from app.inputs.spool import MemoryBlob
from tests.support.images import png_bytes
from tests.support.rules import RULES, job

PROMPTS = ["a red fox", "a lighthouse at dusk", "three pears on a table"]


async def render(job: ImageJob, rules: str | None = None) -> Image.Image:
    """The job on a local route (the test jobs' model names their rule set by default)."""
    tools = CarrierTools(http=None)  # type: ignore[arg-type]  # offline: never used
    carrier = LocalCarrier(LocalConfig(name="local", kind="local"), tools)
    result = await carrier.run(job, Route("local", job.model, RULES[rules or job.model]))
    assert result.images[0].data is not None
    return Image.open(io.BytesIO(result.images[0].data))


def edge_energy(picture: Image.Image) -> float:
    """Mean edge strength: how much fine structure there is."""
    edges = picture.convert("L").filter(ImageFilter.FIND_EDGES)
    return float(ImageStat.Stat(edges).mean[0])


def flatness(picture: Image.Image) -> float:
    """The share of pixels equal to their right-hand neighbour: flat, coarse pictures are ~1."""
    grey = picture.convert("L")
    shifted = ImageChops.offset(grey, -1, 0)
    same = ImageChops.difference(grey, shifted).point(lambda v: 255 if v == 0 else 0)
    return float(ImageStat.Stat(same).mean[0]) / 255


@pytest.mark.parametrize("prompt", PROMPTS)
async def test_quality_sets_the_level_of_detail(prompt: str) -> None:
    pictures = {
        quality: await render(job("gpt-image-2.5", prompt=prompt, quality=quality))
        for quality in ("low", "medium", "high", "xhigh")
    }
    energy = {quality: edge_energy(picture) for quality, picture in pictures.items()}
    assert energy["medium"] * 2 < energy["high"], energy
    assert energy["high"] * 1.3 < energy["xhigh"], energy
    flat = {quality: flatness(picture) for quality, picture in pictures.items()}
    assert flat["low"] > flat["medium"] > flat["high"] > flat["xhigh"], flat
    # low is flat fills only: a handful of colours where medium has a gradient
    colours = {quality: colours_below_the_text(picture) for quality, picture in pictures.items()}
    assert colours["low"] <= 8 and colours["medium"] >= 50, colours


def colours_below_the_text(picture: Image.Image) -> int:
    """Distinct colours in the bottom quarter (away from the prompt and the stamp)."""
    width, height = picture.size
    region = picture.convert("RGB").crop((0, height * 3 // 4, width, height))
    return len(region.getcolors(width * height) or [])


async def test_auto_draws_as_medium_and_dall_e_3_hd_as_high() -> None:
    medium = await render(job("gpt-image-2", quality="medium"))
    auto = await render(job("gpt-image-2", quality="auto"))
    assert auto.tobytes() == medium.tobytes()
    standard = await render(job("dall-e-3", quality="standard"))
    hd = await render(job("dall-e-3", quality="hd"))
    assert edge_energy(standard) * 2 < edge_energy(hd)


def test_the_stamp_text() -> None:
    assert stamp_text("gpt-image-2", "1536x1024", "high") == "gpt-image-2 | 1536x1024 | high"


def reference_stamp(size: tuple[int, int], model: str, quality: str) -> Image.Image:
    """The stamp alone, drawn on a blank picture of ``size``, cropped to its box."""
    blank = Image.new("RGB", size)
    shown = f"{size[0]}x{size[1]}"
    stamp(blank, model, shown, quality)
    return blank.crop(stamp_box(*size, stamp_text(model, shown, quality)))


@pytest.mark.parametrize(
    ("rules", "params", "size", "quality"),
    [
        ("gpt-image-2", {"size": "1536x1024", "quality": "high"}, (1536, 1024), "high"),
        ("gpt-image-2", {"size": "auto"}, (1024, 1024), "medium"),
        ("dall-e-2", {"size": "256x256"}, (256, 256), "medium"),
        ("dall-e-3", {"size": "1792x1024", "quality": "hd"}, (1792, 1024), "hd"),
        ("gpt-image-1", {"quality": "low", "background": "transparent"}, (1024, 1024), "low"),
    ],
)
async def test_the_stamp_shows_the_requests_model_size_and_quality(
    rules: str, params: dict[str, Any], size: tuple[int, int], quality: str
) -> None:
    picture = (await render(job(rules, **params))).convert("RGB")
    box = stamp_box(*size, stamp_text(rules, f"{size[0]}x{size[1]}", quality))
    assert picture.size == size
    assert picture.crop(box).tobytes() == reference_stamp(size, rules, quality).tobytes()
    other = "high" if quality != "high" else "low"  # the comparison tells stamps apart
    assert (
        picture.crop(box).tobytes()
        != reference_stamp(size, rules, other)
        .crop((0, 0, box[2] - box[0], box[3] - box[1]))
        .tobytes()
    )
    _assert_legible(picture.crop(box))


async def test_a_model_name_changes_nothing_but_the_stamp() -> None:
    first = await render(job("gpt-image-2", size="1024x1024"))
    renamed = dataclasses.replace(job("gpt-image-2", size="1024x1024"), model="gpt-image-2-x")
    second = await render(renamed, "gpt-image-2")
    changed = ImageChops.difference(first.convert("RGB"), second.convert("RGB")).getbbox()
    assert changed is not None
    box = stamp_box(1024, 1024, stamp_text("gpt-image-2-x", "1024x1024", "medium"))
    assert box[0] <= changed[0] and box[1] <= changed[1]
    assert changed[2] <= box[2] + 1 and changed[3] <= box[3] + 1


async def test_edits_are_stamped_too() -> None:
    grey = InputImage(
        MemoryBlob(png_bytes((64, 64), (128, 128, 128))),
        "png",
        64,
        64,
        has_alpha=False,
        filename="grey.png",
        param="image",
    )
    edit = dataclasses.replace(job("gpt-image-2", "edit", size="1024x1024"), images=(grey,))
    picture = (await render(edit)).convert("RGB")
    box = stamp_box(1024, 1024, stamp_text("gpt-image-2", "1024x1024", "medium"))
    assert (
        picture.crop(box).tobytes()
        == reference_stamp((1024, 1024), "gpt-image-2", "medium").tobytes()
    )


def _assert_legible(region: Image.Image) -> None:
    """Black box, white text: mostly black, with a real share of (near) white pixels."""
    colours: list[tuple[int, tuple[int, int, int]]] = region.getcolors(region.width * region.height)  # type: ignore[assignment]
    black = sum(count for count, colour in colours if colour == (0, 0, 0))
    white = sum(count for count, colour in colours if min(colour) >= 200)
    area = region.width * region.height
    assert black > area * 0.5 and white > area * 0.03, (black, white, area)
