"""Path operations. Each is thin: parse, call one function, render."""

from __future__ import annotations

from typing import cast

import orjson
from fastapi import APIRouter, Request
from starlette.responses import FileResponse, Response

from app.api import render
from app.api.deps import CallerDep, Services, ServicesDep, public_base_url
from app.api.forms import read_edit_request, read_json_object
from app.catalog import ModelSpec
from app.domain import MEDIA_TYPES, ImageFormat, ImageJob
from app.errors import NotFound, UnsupportedParameter
from app.normalize import normalize

router = APIRouter()
_IMMUTABLE = "public, max-age=31536000, immutable"


@router.post("/v1/images/generations")
@router.post("/v1/openai/images/generations")
async def create_generation(request: Request, services: ServicesDep, _: CallerDep) -> Response:
    raw = await read_json_object(request, services.config.server.max_json_bytes)
    spec = services.catalog.resolve(raw.get("model"))
    job = normalize(
        raw,
        operation="generate",
        model=spec.name,
        rules=spec.rules,
        default_response_format=services.config.server.default_response_format,
    )
    return await _run(job, spec, request, services)


@router.post("/v1/images/edits")
@router.post("/v1/openai/images/edits")
async def create_edit(request: Request, services: ServicesDep, _: CallerDep) -> Response:
    inputs = services.inputs
    with inputs.spool() as spool:
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
        return await _run(job, spec, request, services)


async def _run(job: ImageJob, spec: ModelSpec, request: Request, services: Services) -> Response:
    if job.stream:
        raise UnsupportedParameter("Streaming is not enabled on this gateway yet.", param="stream")
    generation = await services.pipeline.run(job, spec)
    return render.images_response(generation, public_base_url(request, services.config))


@router.get("/v1/models")
async def list_models(services: ServicesDep, _: CallerDep) -> Response:
    data = [
        _model(model_id, spec.created, spec.owned_by)
        for model_id, spec in services.catalog.entries()
    ]
    return Response(orjson.dumps({"object": "list", "data": data}), media_type="application/json")


@router.get("/v1/models/{model_id:path}")
async def get_model(model_id: str, services: ServicesDep, _: CallerDep) -> Response:
    spec = services.catalog.resolve(model_id)
    body = _model(model_id, spec.created, spec.owned_by)
    return Response(orjson.dumps(body), media_type="application/json")


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
