"""How a normalized job is answered: plain JSON, an event stream, JSON with keep-alives, or
an async job (``Prefer: respond-async``: 202 now, the result at a status URL later).

Shared by generations and edits, so both behave the same in every mode.
"""

from __future__ import annotations

from functools import partial

import orjson
from fastapi import Request
from starlette.responses import Response

from app.api import render
from app.api.keepalive import with_keepalive
from app.api.request_meta import (
    client_timeout,
    idempotency_key,
    public_base_url,
    wants_async,
    wants_keepalive,
)
from app.api.sse import stream_response
from app.core.catalog import ModelSpec
from app.domain import ImageJob, Principal
from app.errors import InvalidRequest
from app.run.runner import Cleanup, Once
from app.storage import ImageUrl
from app.wiring import Services


async def respond(
    request: Request,
    services: Services,
    principal: Principal,
    job: ImageJob,
    spec: ModelSpec,
    *,
    cleanup: Cleanup | None = None,
) -> Response:
    """Answer ``job`` in the mode the client asked for. ``cleanup`` (releasing the job's input
    files) runs exactly once, when the work is over, however the client fares meanwhile."""
    once = Once(cleanup)
    try:
        return await _respond(request, services, principal, job, spec, once)
    except BaseException:
        if not once.handed_over:  # refused before any work started
            once()
        raise


async def _respond(
    request: Request,
    services: Services,
    principal: Principal,
    job: ImageJob,
    spec: ModelSpec,
    cleanup: Once,
) -> Response:
    deadline = spec.deadline(job.quality, client_timeout(request))
    base_url = public_base_url(request, services.config.storage, services.config.server)
    image_url = partial(services.storage.url, base_url=base_url)
    streaming = services.config.streaming
    if wants_async(request):
        if job.stream:
            raise InvalidRequest(
                "stream=true cannot be combined with 'Prefer: respond-async'.", param="stream"
            )
        return await _submit_job(services, principal, job, spec, base_url, image_url, cleanup)
    if job.stream:
        queue = services.executor.stream(job, spec, deadline, cleanup=cleanup.hand_over())
        return await stream_response(
            queue,
            job,
            image_url,
            keepalive=streaming.keepalive_interval,
            first_event_wait=streaming.first_event_wait,
        )

    key = idempotency_key(request)

    async def answer() -> Response:
        generation, replayed = await services.executor.run(
            job, spec, deadline=deadline, principal=principal, idempotency_key=key,
            cleanup=cleanup.hand_over(),
        )  # fmt: skip
        return render.images_response(generation, image_url, replayed=replayed)

    if spec.keepalive_json or wants_keepalive(request):
        return await with_keepalive(answer(), streaming.keepalive_interval)
    return await answer()


async def _submit_job(
    services: Services,
    principal: Principal,
    job: ImageJob,
    spec: ModelSpec,
    base_url: str,
    image_url: ImageUrl,
    cleanup: Once,
) -> Response:
    async def work() -> bytes:  # nobody waits on the connection: only the model's deadline
        generation, _ = await services.executor.run(
            job, spec, deadline=spec.deadline(job.quality, None), principal=principal,
            idempotency_key=None, cleanup=cleanup,
        )  # fmt: skip
        return orjson.dumps(render.images_body(generation, image_url))

    record = await services.jobs.submit(principal.id, work, on_drop=cleanup)
    cleanup.hand_over()  # only now: a refused submission leaves the cleanup to respond()
    return render.job_accepted(record, base_url)
