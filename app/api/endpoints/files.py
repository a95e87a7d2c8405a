"""``GET``/``HEAD /images/{id}.{ext}``: stored images, answered only for a storage backend the
gateway serves itself (immutable, ETag and 304, single byte ranges), and ``/healthz``."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from app.api.state import ServicesDep
from app.domain import MEDIA_TYPES
from app.errors import NotFound
from app.storage.local import SERVED_UNDER

router = APIRouter()
_IMMUTABLE = "public, max-age=31536000, immutable"
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class Unsatisfiable:
    """A range request none of whose bytes exist (416)."""


UNSATISFIABLE = Unsatisfiable()


@router.api_route(SERVED_UNDER + "/{name}", methods=["GET", "HEAD"])
async def get_image(name: str, request: Request, services: ServicesDep) -> Response:
    storage = services.storage
    ref = await storage.find(name) if storage.serves_files else None
    if ref is None:
        raise NotFound("No such image.")
    etag = f'"{ref.id}"'
    headers = {"cache-control": _IMMUTABLE, "etag": etag, "accept-ranges": "bytes"}
    if request.headers.get("if-none-match") in (etag, f"W/{etag}"):
        return Response(status_code=304, headers=headers)
    size = ref.byte_size
    wanted = request.headers.get("range")
    if wanted is not None and request.headers.get("if-range", etag) != etag:
        wanted = None  # the client's partial copy is of something else: send it all
    span = byte_range(wanted, size) if wanted is not None else None
    if isinstance(span, Unsatisfiable):
        headers["content-range"] = f"bytes */{size}"
        return Response(status_code=416, headers=headers)
    start, stop = span or (0, size)
    if span is not None:
        headers["content-range"] = f"bytes {start}-{stop - 1}/{size}"
    headers["content-length"] = str(stop - start)
    status = 200 if span is None else 206
    media_type = MEDIA_TYPES[ref.format]
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=media_type)
    body = storage.stream(ref, start, stop)
    return StreamingResponse(body, status_code=status, headers=headers, media_type=media_type)


def byte_range(header: str, size: int) -> tuple[int, int] | Unsatisfiable | None:
    """``[start, stop)`` for a single-range ``Range`` header; None when the header is not one
    we honour (malformed or several ranges: the whole image is sent, as RFC 9110 allows)."""
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if first:
        start = int(first)
        stop = min(int(last) + 1, size) if last else size
        if last and int(last) < start:
            return None
    elif last:
        start, stop = max(size - int(last), 0), size
        if int(last) == 0:
            return UNSATISFIABLE
    else:
        return None
    return (start, stop) if start < size else UNSATISFIABLE


@router.get("/healthz")
async def healthz() -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")
