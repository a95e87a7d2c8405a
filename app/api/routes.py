"""Path operations. Each is thin: parse, call one function, render."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

import orjson
from fastapi import APIRouter, Request
from starlette.responses import FileResponse, Response

from app.api import render
from app.api.delivery import respond
from app.api.deps import CallerDep, ServicesDep
from app.api.forms import read_edit_request, read_json_object
from app.domain import MEDIA_TYPES, ImageFormat
from app.errors import NotFound
from app.normalize import normalize

router = APIRouter()
_IMMUTABLE = "public, max-age=31536000, immutable"


@router.post("/v1/images/generations")
@router.post("/v1/openai/images/generations")
async def create_generation(request: Request, services: ServicesDep, caller: CallerDep) -> Response:
    raw = await read_json_object(request, services.config.server.max_json_bytes)
    spec = services.catalog.resolve(raw.get("model"))
    job = normalize(
        raw,
        operation="generate",
        model=spec.name,
        rules=spec.rules,
        default_response_format=services.config.server.default_response_format,
    )
    return await respond(request, services, caller, job, spec)


@router.post("/v1/images/edits")
@router.post("/v1/openai/images/edits")
async def create_edit(request: Request, services: ServicesDep, caller: CallerDep) -> Response:
    inputs = services.inputs
    spool = inputs.spool()  # owned by the work from here on: closed when it ends
    try:
        edit = await read_edit_request(request, spool, inputs.limits)
        spec = services.catalog.resolve(edit.params.get("model"))
        images, mask = await inputs.load(edit, spec.rules, spec.name, spool)
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
    return await respond(request, services, caller, job, spec, cleanup=spool.close)


@router.get("/v1/images/jobs/{job_id}")
async def get_job(job_id: str, services: ServicesDep, caller: CallerDep) -> Response:
    record = await services.jobs.get(job_id, caller.id)
    if record is None:
        raise NotFound(f"No image job '{job_id[:100]}' (it may have expired).", param="job_id")
    return render.job_status(record)


@router.get("/v1/models")
async def list_models(services: ServicesDep, _: CallerDep) -> Response:
    entries = services.catalog.entries()
    data = [_model(model_id, spec.created, spec.owned_by) for model_id, spec in entries]
    return _json({"object": "list", "data": data})


@router.get("/v1/models/{model_id:path}")
async def get_model(model_id: str, services: ServicesDep, _: CallerDep) -> Response:
    spec = services.catalog.resolve(model_id)
    return _json(_model(model_id, spec.created, spec.owned_by))


@router.get("/v1/carriers")
async def list_carriers(services: ServicesDep, _: CallerDep) -> Response:
    """Each carrier's live state: enabled, healthy or cooling down (until when), recent errors."""
    data = []
    for carrier in services.config.carriers:
        status = await services.health.status(carrier.name)
        until = status.cooling_until
        data.append(
            {
                "name": carrier.name,
                "kind": carrier.kind,
                "enabled": carrier.name in services.enabled,
                "state": status.state if carrier.name in services.enabled else "disabled",
                "cooling_until": datetime.fromtimestamp(until, UTC).isoformat() if until else None,
                "recent_failures": status.recent_failures,
                "successes": status.successes,
                "last_error": status.last_error,
            }
        )
    return _json({"object": "list", "data": data})


@router.api_route("/images/{name}", methods=["GET", "HEAD"])
async def get_image(name: str, request: Request, services: ServicesDep) -> Response:
    image_id, _, ext = name.rpartition(".")
    path = services.storage.locate(image_id, cast(ImageFormat, ext)) if ext in MEDIA_TYPES else None
    if path is None:
        raise NotFound("No such image.")
    etag = f'"{image_id}"'
    headers = {"cache-control": _IMMUTABLE, "etag": etag}
    if request.headers.get("if-none-match") in (etag, f"W/{etag}"):
        return Response(status_code=304, headers=headers)
    return FileResponse(path, media_type=MEDIA_TYPES[ext], headers=headers)


@router.get("/healthz")
async def healthz() -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


def _model(model_id: str, created: int, owned_by: str) -> dict[str, object]:
    return {"id": model_id, "object": "model", "created": created, "owned_by": owned_by}


def _json(body: object) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")
