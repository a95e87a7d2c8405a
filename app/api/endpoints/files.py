"""``GET``/``HEAD /images/{id}.{ext}``: re-hosted images (immutable, range requests) and
``/healthz``."""

from __future__ import annotations

from typing import cast

from fastapi import APIRouter, Request
from starlette.responses import FileResponse, Response

from app.api.state import ServicesDep
from app.domain import MEDIA_TYPES, ImageFormat
from app.errors import NotFound

router = APIRouter()
_IMMUTABLE = "public, max-age=31536000, immutable"


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
