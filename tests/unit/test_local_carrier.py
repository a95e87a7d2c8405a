"""The offline carrier draws real, deterministic, prompt-derived pictures of the asked shape."""

from __future__ import annotations

import io

import httpx
import pytest
from PIL import Image

from app.carriers.base import CarrierTools
from app.carriers.local.carrier import LocalCarrier
from app.carriers.local.options import LocalConfig
from app.core.catalog import Route
from app.domain import CarrierResult, ImageJob
from tests.support.rules import RULES, job


async def run(job: ImageJob) -> CarrierResult:
    """The job on a local route with its model's rules (the test jobs name their rule set)."""
    tools = CarrierTools(http=httpx.AsyncClient())  # never used: the local carrier is offline
    carrier = LocalCarrier(LocalConfig(name="local", kind="local"), tools)
    return await carrier.run(job, Route("local", job.model, RULES[job.model]))


async def render(job: ImageJob) -> list[Image.Image]:
    result = await run(job)
    assert all(image.data is not None for image in result.images)
    return [Image.open(io.BytesIO(image.data or b"")) for image in result.images]


@pytest.mark.parametrize(
    ("params", "fmt", "size", "mode"),
    [
        ({"size": "1536x1024"}, "PNG", (1536, 1024), "RGB"),
        (
            {"size": "1024x640", "output_format": "jpeg", "output_compression": 30},
            "JPEG",
            (1024, 640),
            "RGB",
        ),
        ({"size": "2048x1152", "output_format": "webp"}, "WEBP", (2048, 1152), "RGB"),
        ({"background": "transparent"}, "PNG", (1024, 1024), "RGBA"),
        (
            {"background": "transparent", "output_format": "webp", "output_compression": 80},
            "WEBP",
            (1024, 1024),
            "RGBA",
        ),
    ],
)
async def test_exact_size_format_and_transparency(
    params: dict, fmt: str, size: tuple[int, int], mode: str
) -> None:
    (picture,) = await render(job("gpt-image-2", **params))
    assert (picture.format, picture.size, picture.mode) == (fmt, size, mode)
    if mode == "RGBA":
        alpha = picture.getchannel("A")
        assert alpha.getextrema() == (0, 255)  # really transparent somewhere, opaque elsewhere


async def test_deterministic_and_prompt_derived() -> None:
    first = await run(job("gpt-image-1", prompt="a red fox"))
    again = await run(job("gpt-image-1", prompt="a red fox"))
    other = await run(job("gpt-image-1", prompt="a blue whale"))
    assert first.images[0].data == again.images[0].data
    assert first.images[0].data != other.images[0].data


async def test_n_images_differ_and_auto_resolves() -> None:
    result = await run(job("gpt-image-1", n=3))
    assert len({image.data for image in result.images}) == 3
    assert (result.size, result.quality, result.background, result.output_format) == (
        "1024x1024",
        "medium",
        "opaque",
        "png",
    )


async def test_dall_e_sizes() -> None:
    (picture,) = await render(job("dall-e-2", size="256x256"))
    assert picture.size == (256, 256)
