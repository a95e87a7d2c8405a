"""Carrier ``local``: placeholder pictures drawn offline with Pillow (see ``art``), valid images
of the asked size and format, honouring the same rule sets.

``auto`` resolves to the rule set's default size, ``medium`` quality and an opaque background,
and the response echoes those resolved values, as OpenAI does. Edits start from the first input
image (see ``edit``), so offline users see edits work.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from app.carriers.base import CarrierTools
from app.carriers.local.art import Canvas, blur, draw, encode
from app.carriers.local.edit import UndecodableInput, compose, prepare
from app.carriers.local.options import LocalConfig
from app.core.catalog import Route
from app.core.failures import CarrierFailure
from app.domain import CarrierResult, ImageJob, PartialImage, UpstreamImage
from app.inputs.decoding import Decoder
from app.inputs.images import encode_b64

T = TypeVar("T")


class LocalCarrier:
    def __init__(self, config: LocalConfig, tools: CarrierTools) -> None:
        self.name = config.name
        self._decoder = tools.decoder

    async def run(self, job: ImageJob, route: Route) -> CarrierResult:
        default_size = route.rules.default_size
        canvases = [canvas_for(job, index, default_size) for index in range(job.n)]
        render = _render_edits if job.operation == "edit" else _render_all
        images = await self._render(render, job, canvases, self._decoder)
        return _result(job, canvases[0], images)

    async def stream(
        self, job: ImageJob, route: Route
    ) -> AsyncIterator[PartialImage | CarrierResult]:
        """Rougher versions of the picture first (one per requested partial), then the picture."""
        canvas = canvas_for(job, 0, route.rules.default_size)
        levels = job.partial_images or 0
        partials, final = await self._render(
            _render_progressive, job, [canvas], self._decoder, levels
        )
        echo = _result(job, canvas, [final])
        for index, data in enumerate(partials):
            yield PartialImage(
                b64=encode_b64(data),
                index=index,
                size=echo.size,
                quality=echo.quality,
                background=echo.background,
                output_format=echo.output_format,
            )
        yield echo

    async def _render(
        self, render: Callable[..., T], job: ImageJob, canvases: list[Canvas], *args: Any
    ) -> T:
        """Run a blocking renderer in a worker thread, once the inputs it decodes (one at a time)
        fit in the decode budget; undecodable inputs are the client's fault."""
        try:
            async with self._decoder.hold(self._decode_cost(job, canvases[0])):
                return await asyncio.to_thread(render, job, canvases, *args)
        except UndecodableInput as exc:
            raise CarrierFailure(
                "rejected",
                str(exc),
                upstream_error={
                    "type": "invalid_request_error",
                    "code": "invalid_image",
                    "param": exc.param,
                },  # fmt: skip
            ) from None

    def _decode_cost(self, job: ImageJob, canvas: Canvas) -> int:
        """Pixels the inputs take while decoded, one at a time, for the canvas (a conservative
        target for the smaller thumbnails too): the largest of them."""
        target = (canvas.width, canvas.height)
        costs = [0]
        for image in [*job.images, *([job.mask] if job.mask is not None else [])]:
            with image.blob.open() as stream:
                head = stream.read(32)  # a header, already in memory or the page cache
            costs.append(self._decoder.cost(head, (image.width, image.height), target))
        return max(costs)


def _result(job: ImageJob, canvas: Canvas, images: list[bytes]) -> CarrierResult:
    return CarrierResult(
        images=tuple(UpstreamImage(data=data) for data in images),
        size=f"{canvas.width}x{canvas.height}",
        quality=canvas.quality,
        background="transparent" if canvas.transparent else "opaque",
        output_format=canvas.output_format,
    )


def canvas_for(job: ImageJob, index: int, default_size: str) -> Canvas:
    """The picture to draw; ``auto`` (or no size) is the rule set's ``default_size``, ``auto``
    (or no) quality is ``medium``."""
    size = job.size if job.size not in (None, "auto") else default_size
    width, _, height = size.partition("x")
    return Canvas(
        prompt=job.prompt,
        width=int(width),
        height=int(height),
        output_format=job.output_format or "png",
        transparent=job.background == "transparent",
        compression=job.output_compression,
        variant=index,
        model=job.model,
        quality=job.quality if job.quality not in (None, "auto") else "medium",
    )


def _render_all(job: ImageJob, canvases: list[Canvas], decoder: Decoder) -> list[bytes]:
    return [encode(draw(c), c.output_format, c.compression) for c in canvases]


def _render_edits(job: ImageJob, canvases: list[Canvas], decoder: Decoder) -> list[bytes]:
    first = canvases[0]
    inputs = prepare(job.images, job.mask, first.width, first.height, decoder)
    return [encode(compose(c, inputs), c.output_format, c.compression) for c in canvases]


def _render_progressive(
    job: ImageJob, canvases: list[Canvas], decoder: Decoder, levels: int
) -> tuple[list[bytes], bytes]:
    canvas = canvases[0]
    if job.operation == "edit":
        inputs = prepare(job.images, job.mask, canvas.width, canvas.height, decoder)
        picture = compose(canvas, inputs)
    else:
        picture = draw(canvas)
    fmt, compression = canvas.output_format, canvas.compression
    partials = [encode(blur(picture, level, levels), fmt, compression) for level in range(levels)]
    return partials, encode(picture, fmt, compression)
