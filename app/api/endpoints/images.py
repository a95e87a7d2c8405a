"""``POST /v1/images/generations`` and ``/v1/images/edits``: parse, normalize, respond.

The hot path: each endpoint takes only the request and resolves the services and the caller
in plain functions (FastAPI's dependency solver costs a measurable share of a small request)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.api.auth import authenticate
from app.api.delivery import respond
from app.api.forms import read_edit_request, read_json_object
from app.api.request_meta import own_origins
from app.api.state import services_of
from app.core.normalize import normalize
from app.domain import ImageJob
from app.observability import tracing

router = APIRouter()


@router.post("/v1/images/generations")
@router.post("/v1/openai/images/generations")
async def create_generation(request: Request) -> Response:
    services = services_of(request)
    principal = await authenticate(request, services)
    server = services.config.server
    with tracing.span("imagegate.parse"):
        raw = await read_json_object(request, server.max_json_bytes)
    with tracing.span("imagegate.normalize") as span:
        spec = services.catalog.resolve(raw.get("model"))
        job = normalize(
            raw,
            operation="generate",
            model=spec.name,
            rules=spec.rules,
            default_response_format=server.default_response_format,
        )
        if span.is_recording():
            _describe(job)
    return await respond(request, services, principal, job, spec)


@router.post("/v1/images/edits")
@router.post("/v1/openai/images/edits")
async def create_edit(request: Request) -> Response:
    services = services_of(request)
    principal = await authenticate(request, services)
    inputs = services.inputs
    spool = inputs.spool()  # owned by the work from here on: closed when it ends
    try:
        with tracing.span("imagegate.parse"):
            edit = await read_edit_request(request, spool, inputs.limits, inputs.json_in_flight)
            spec = services.catalog.resolve(edit.params.get("model"))
            own = own_origins(request, services.config.storage, services.config.server)
            images, mask = await inputs.load(edit, spec.rules, spec.name, spool, own)
        with tracing.span("imagegate.normalize") as span:
            job = normalize(
                edit.params,
                operation="edit",
                model=spec.name,
                rules=spec.rules,
                default_response_format=services.config.server.default_response_format,
                images=images,
                mask=mask,
            )
            if span.is_recording():
                _describe(job)
    except BaseException:
        spool.close()
        raise
    return await respond(request, services, principal, job, spec, cleanup=spool.close)


def _describe(job: ImageJob) -> None:
    """The request span's image attributes (GenAI conventions where they exist)."""
    tracing.annotate_request(
        {
            "gen_ai.operation.name": "generate_content",
            "gen_ai.output.type": "image",
            "gen_ai.request.model": job.model,
            "gen_ai.request.choice.count": job.n,
            "imagegate.operation": job.operation,
            "imagegate.image.size": job.size or "auto",
            "imagegate.image.quality": job.quality or "auto",
            "imagegate.stream": job.stream,
        }
    )
