"""How a normalized job is answered: plain JSON, an event stream, JSON with keep-alives, or
an async job (``Prefer: respond-async``: 202 now, the result at a status URL later).

Shared by generations and edits, so both behave the same in every mode: the Idempotency-Key
holds in each of them, and each request is metered into exactly one usage record.
"""

from __future__ import annotations

from functools import partial

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
from app.errors import GatewayError, InvalidRequest
from app.images_index.policy import url_mode_of
from app.observability.logs import request_id_var
from app.run.runner import Cleanup, Once, request_key
from app.state.base import RequestKey
from app.storage import ImageUrl
from app.usage.meter import Meter
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
    meter = Meter(
        services.recorder,
        principal,
        job.model,
        job.operation,
        stream=job.stream,
        async_job=wants_async(request),
        prompt=job.prompt,
    )
    request.state.usage_meter = meter  # the access log reads the carrier from it
    try:
        # Admission: policy, rate limits and the budget hold, before any upstream work.
        meter.charge = await services.admission.admit(principal, job, spec, request_id_var.get())
        return await _respond(request, services, principal, job, spec, once, meter)
    except BaseException as error:
        if not once.handed_over:  # refused before any work started
            once()
        meter.refused(error)
        raise


async def _respond(
    request: Request,
    services: Services,
    principal: Principal,
    job: ImageJob,
    spec: ModelSpec,
    cleanup: Once,
    meter: Meter,
) -> Response:
    base_url = public_base_url(request, services.config.storage, services.config.server)
    image_url = partial(services.storage.url, base_url=base_url, mode=url_mode_of(principal))
    streaming = services.config.streaming
    key = await request_key(principal, idempotency_key(request), job)
    if wants_async(request):
        if job.stream:
            raise InvalidRequest(
                "stream=true cannot be combined with 'Prefer: respond-async'.", param="stream"
            )
        return await _submit_job(
            services, principal, job, spec, base_url, image_url, cleanup, meter, key
        )
    deadline = spec.deadline(job.quality, client_timeout(request))
    executor = services.executor
    if job.stream:
        queue = executor.stream(
            job, spec, meter, deadline=deadline, key=key, cleanup=cleanup.hand_over()
        )
        return await stream_response(
            queue,
            job,
            meter,
            image_url,
            keepalive=streaming.keepalive_interval,
            first_event_wait=streaming.first_event_wait,
        )

    keepalive = spec.keepalive_json or wants_keepalive(request)

    async def answer() -> Response:
        generation, replayed = await executor.run(
            job, spec, meter, deadline=deadline, key=key, cleanup=cleanup.hand_over()
        )
        return render.images_response(
            generation, image_url, replayed=replayed, charge=meter.charge, cost_in_body=keepalive
        )

    if keepalive:
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
    meter: Meter,
    key: RequestKey | None,
) -> Response:
    async def work() -> bytes:  # nobody waits on the connection: only the model's deadline
        deadline = spec.deadline(job.quality, None)
        generation, _ = await services.executor.run(
            job, spec, meter, deadline=deadline, key=key, cleanup=cleanup, on_connection=False
        )
        return render.job_result(generation, image_url, meter.charge)

    def dropped() -> None:  # the job never ran (a shutdown while it waited in line)
        cleanup()
        meter.failed(GatewayError("The gateway shut down before this job ran.", code="cancelled"))

    record, new = await services.jobs.submit(principal.id, work, on_drop=dropped, key=key)
    if new:
        meter.detach()
        cleanup.hand_over()  # only now: a refused submission leaves the cleanup to respond()
    else:  # the same key made this job before: nothing runs for this request
        meter.accepted_again()
        cleanup()
    return render.job_accepted(record, base_url)
