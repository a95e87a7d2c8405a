"""``POST /v1/images/generations`` and ``/v1/images/edits``: parse, normalize, respond."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.api.auth import PrincipalDep
from app.api.delivery import respond
from app.api.forms import read_edit_request, read_json_object
from app.api.request_meta import own_origins
from app.api.state import ServicesDep
from app.core.normalize import normalize

router = APIRouter()


@router.post("/v1/images/generations")
@router.post("/v1/openai/images/generations")
async def create_generation(
    request: Request, services: ServicesDep, principal: PrincipalDep
) -> Response:
    server = services.config.server
    raw = await read_json_object(request, server.max_json_bytes)
    spec = services.catalog.resolve(raw.get("model"))
    job = normalize(
        raw,
        operation="generate",
        model=spec.name,
        rules=spec.rules,
        default_response_format=server.default_response_format,
    )
    return await respond(request, services, principal, job, spec)


@router.post("/v1/images/edits")
@router.post("/v1/openai/images/edits")
async def create_edit(request: Request, services: ServicesDep, principal: PrincipalDep) -> Response:
    inputs = services.inputs
    spool = inputs.spool()  # owned by the work from here on: closed when it ends
    try:
        edit = await read_edit_request(request, spool, inputs.limits, inputs.json_in_flight)
        spec = services.catalog.resolve(edit.params.get("model"))
        own = own_origins(request, services.config.storage, services.config.server)
        images, mask = await inputs.load(edit, spec.rules, spec.name, spool, own)
        job = normalize(
            edit.params,
            operation="edit",
            model=spec.name,
            rules=spec.rules,
            default_response_format=services.config.server.default_response_format,
            images=images,
            mask=mask,
        )
    except BaseException:
        spool.close()
        raise
    return await respond(request, services, principal, job, spec, cleanup=spool.close)
