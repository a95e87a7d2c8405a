"""Server-sent events in OpenAI's image stream format, with comment keep-alives.

Before anything is sent, a failure is an ordinary HTTP error. Headers are held for
``first_event_wait`` seconds; after that (or after the first event) they are committed, and a
failure ends the stream with ``event: error``. Keep-alives are SSE comments, never an event
with empty data (which crashes the SDKs' JSON parsing).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.responses import Response, StreamingResponse

from app.domain import Generation, ImageJob, PartialImage
from app.errors import GatewayError
from app.run.runner import StreamItem
from app.storage import ImageUrl

KEEPALIVE = b": keep-alive\n\n"
DONE = b"data: [DONE]\n\n"
_STREAM_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


async def stream_response(
    queue: asyncio.Queue[StreamItem],
    job: ImageJob,
    image_url: ImageUrl,
    *,
    keepalive: float,
    first_event_wait: float,
) -> Response:
    try:
        first: StreamItem = await asyncio.wait_for(queue.get(), first_event_wait)
        waited = False
    except TimeoutError:
        first, waited = None, True
    if isinstance(first, GatewayError):
        raise first
    body = _events(first, waited, queue, job, image_url, keepalive)
    return StreamingResponse(body, media_type="text/event-stream", headers=_STREAM_HEADERS)


async def _events(
    first: StreamItem,
    waited: bool,
    queue: asyncio.Queue[StreamItem],
    job: ImageJob,
    image_url: ImageUrl,
    keepalive: float,
) -> AsyncIterator[bytes]:
    prefix = "image_generation" if job.operation == "generate" else "image_edit"
    item = first
    if waited:
        yield KEEPALIVE  # commit the headers: the client knows we are working
        item = await _next(queue, keepalive)
    while True:
        if item is _TICK:
            yield KEEPALIVE
        elif item is None:
            yield DONE
            return
        elif isinstance(item, GatewayError):
            yield _frame("error", {"type": "error", "error": item.envelope()["error"]})
            return
        elif isinstance(item, PartialImage):
            yield _frame(f"{prefix}.partial_image", _partial(prefix, item, job))
        elif isinstance(item, Generation):
            yield _frame(f"{prefix}.completed", _completed(prefix, item, image_url))
        item = await _next(queue, keepalive)


class _Tick:
    """No event within the keep-alive interval."""


_TICK: Any = _Tick()


async def _next(queue: asyncio.Queue[StreamItem], keepalive: float) -> StreamItem:
    try:
        return await asyncio.wait_for(queue.get(), keepalive)
    except TimeoutError:
        return _TICK  # type: ignore[no-any-return]


def _frame(event: str, data: dict[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def _partial(prefix: str, event: PartialImage, job: ImageJob) -> dict[str, Any]:
    return {
        "type": f"{prefix}.partial_image",
        "b64_json": event.b64,
        "created_at": event.created_at or int(time.time()),
        "size": event.size or job.size or "auto",
        "quality": event.quality or job.quality or "auto",
        "background": event.background or job.background or "auto",
        "output_format": event.output_format or job.output_format or "png",
        "partial_image_index": event.index,
    }


def _completed(prefix: str, generation: Generation, image_url: ImageUrl) -> dict[str, Any]:
    image = generation.images[0]
    body: dict[str, Any] = {
        "type": f"{prefix}.completed",
        "b64_json": image.b64,
        "created_at": generation.created,
        "size": generation.size or "auto",
        "quality": generation.quality or "auto",
        "background": generation.background or "auto",
        "output_format": generation.output_format or image.format,
    }
    if image.ref is not None:
        body["url"] = image_url(image.ref)
    if generation.usage is not None:
        body["usage"] = generation.usage
    if generation.cost is not None:
        body["cost"] = generation.cost
    return body
