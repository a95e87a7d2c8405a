"""Server-sent events in OpenAI's image stream format, with comment keep-alives.

Before anything is sent, a failure is an ordinary HTTP error. Headers are held for
``first_event_wait`` seconds; after that (or after the first event) they are committed, and a
failure ends the stream with ``event: error``. Keep-alives are SSE comments, never an event
with empty data (which crashes the SDKs' JSON parsing). A replayed stream (a repeated
Idempotency-Key) is just the completed event of the first one.

Cost: the completed event carries an ``imagegate`` object with the exact cost and, when a budget
applies, the budget left (``{"cost": "0.04", "budget_remaining": "9.96"}``), as a plain answer's
``x-imagegate-cost`` and ``x-imagegate-budget-remaining`` headers say them. The headers go out
before the cost is known, so they carry it only when the image was ready before them (a replay:
cost 0, or a completion within ``first_event_wait``); a stream never sends a guess.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.responses import Response, StreamingResponse

from app.api.render import cost_fields, cost_headers
from app.core.pricing import NANOS_PER_USD
from app.domain import Generation, ImageJob, PartialImage
from app.errors import GatewayError, error_object
from app.run.runner import Replayed, StreamItem
from app.storage import ImageUrl
from app.usage.meter import Meter

KEEPALIVE = b": keep-alive\n\n"
DONE = b"data: [DONE]\n\n"
_STREAM_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


class Tick:
    """No event within the keep-alive interval."""


_TICK = Tick()


async def stream_response(
    queue: asyncio.Queue[StreamItem],
    job: ImageJob,
    meter: Meter,
    image_url: ImageUrl,
    *,
    keepalive: float,
    first_event_wait: float,
) -> Response:
    first: StreamItem | Tick
    try:
        first = await asyncio.wait_for(queue.get(), first_event_wait)
    except TimeoutError:
        first = _TICK
    except asyncio.CancelledError:
        meter.client_left()
        raise
    if isinstance(first, GatewayError):
        raise first
    headers = dict(_STREAM_HEADERS)
    if isinstance(first, Replayed):
        headers["x-imagegate-idempotent-replay"] = "true"
        headers |= cost_headers(first.generation, meter.charge, replayed=True)
    elif isinstance(first, Generation):  # ready before the headers: they can say its cost
        headers |= cost_headers(first, meter.charge, replayed=False)
    body = _events(first, queue, job, meter, image_url, keepalive)
    return StreamingResponse(body, media_type="text/event-stream", headers=headers)


async def _events(
    first: StreamItem | Tick,
    queue: asyncio.Queue[StreamItem],
    job: ImageJob,
    meter: Meter,
    image_url: ImageUrl,
    keepalive: float,
) -> AsyncIterator[bytes]:
    prefix = "image_generation" if job.operation == "generate" else "image_edit"
    item = first
    try:
        while True:
            if isinstance(item, Tick):  # also commits the headers: the client knows we work
                yield KEEPALIVE
            elif item is None:
                yield DONE
                return
            elif isinstance(item, GatewayError):
                yield b"event: error\ndata: " + _error_event(item) + b"\n\n"
                return
            elif isinstance(item, PartialImage):
                yield _frame(f"{prefix}.partial_image", _partial(prefix, item, job))
            else:
                replayed = isinstance(item, Replayed)
                generation = item.generation if isinstance(item, Replayed) else item
                completed = _completed(prefix, generation, image_url)
                completed["imagegate"] = dict(cost_fields(generation, meter.charge, replayed))
                yield _frame(f"{prefix}.completed", completed)
            item = await _next(queue, keepalive)
    except BaseException:  # the client went away (the producer carries on without it)
        meter.client_left()
        raise


async def _next(queue: asyncio.Queue[StreamItem], keepalive: float) -> StreamItem | Tick:
    try:
        return await asyncio.wait_for(queue.get(), keepalive)
    except TimeoutError:
        return _TICK


def _frame(event: str, data: dict[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def _error_event(error: GatewayError) -> bytes:
    """OpenAI's stream error: ``{"type": "error", "error": {...}}``, the object rendered once."""
    return b'{"type":"error","error":' + error_object(error) + b"}"


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
        body["url"], expires_at = image_url(image.ref)
        if expires_at is not None:
            body["expires_at"] = expires_at
    if image.storage_error is not None:
        body["stored"] = False
    if generation.usage is not None:
        body["usage"] = generation.usage
    if generation.cost_nanos is not None:
        body["cost"] = generation.cost_nanos / NANOS_PER_USD
    if generation.offline_fallback:
        body["offline_fallback"] = True
    return body
