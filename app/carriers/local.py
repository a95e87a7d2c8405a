"""Carrier ``local``: renders real images offline with Pillow, honouring the same rule sets.

``auto`` resolves to the rule set's default size, ``medium`` quality and an opaque background,
and the response echoes those resolved values, as OpenAI does. Edits start from the first input
image (see ``local_edit``), so offline users see edits work.
"""

from __future__ import annotations

import asyncio

from app.carriers.base import CarrierFailure, CarrierTools
from app.carriers.local_art import Canvas, draw, encode
from app.carriers.local_edit import UndecodableInput, compose, prepare
from app.config import CarrierConfig
from app.domain import CarrierResult, ImageJob, UpstreamImage


class LocalCarrier:
    def __init__(self, config: CarrierConfig, tools: CarrierTools) -> None:
        self.name = config.name

    async def run(self, job: ImageJob, upstream_model: str) -> CarrierResult:
        canvases = [canvas_for(job, index) for index in range(job.n)]
        render = _render_edits if job.operation == "edit" else _render_all
        try:
            images = await asyncio.to_thread(render, job, canvases)
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
        first = canvases[0]
        return CarrierResult(
            images=tuple(UpstreamImage(data=data) for data in images),
            size=f"{first.width}x{first.height}",
            quality=job.quality if job.quality not in (None, "auto") else "medium",
            background="transparent" if first.transparent else "opaque",
            output_format=first.output_format,
        )


def canvas_for(job: ImageJob, index: int) -> Canvas:
    size = job.size if job.size not in (None, "auto") else job.rules.default_size
    width, _, height = size.partition("x")
    return Canvas(
        prompt=job.prompt,
        width=int(width),
        height=int(height),
        output_format=job.output_format or "png",
        transparent=job.background == "transparent",
        compression=job.output_compression,
        variant=index,
    )


def _render_all(job: ImageJob, canvases: list[Canvas]) -> list[bytes]:
    return [encode(draw(c), c.output_format, c.compression) for c in canvases]


def _render_edits(job: ImageJob, canvases: list[Canvas]) -> list[bytes]:
    first = canvases[0]
    inputs = prepare(job.images, job.mask, first.width, first.height)
    return [encode(compose(c, inputs), c.output_format, c.compression) for c in canvases]
