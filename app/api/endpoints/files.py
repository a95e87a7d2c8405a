"""``GET``/``HEAD /images/{id}.{ext}``: stored images, answered only for a storage backend the
gateway serves itself (immutable, ETag and 304, single byte ranges), and ``/healthz``.

A signed URL (``?expires=..&sig=..``) is checked first: a wrong or expired signature is a 403,
and so is an unsigned URL when the deployment signs its URLs. An object store may then send the
client to a fresh presigned URL (302) instead of the gateway streaming the image."""

from __future__ import annotations

import re
import time

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from app.api.state import ServicesDep
from app.domain import MEDIA_TYPES
from app.errors import NotFound
from app.storage import parse_filename
from app.storage.urls import SERVED_UNDER

router = APIRouter()
_IMMUTABLE = "public, max-age=31536000, immutable"
_PRIVATE = "private, no-store"  # a redirect to a presigned URL: short-lived, never shared
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class Unsatisfiable:
    """A range request none of whose bytes exist (416)."""


UNSATISFIABLE = Unsatisfiable()


@router.api_route(SERVED_UNDER + "/{name}", methods=["GET", "HEAD"])
async def get_image(name: str, request: Request, services: ServicesDep) -> Response:
    storage = services.storage
    named = parse_filename(name) if storage.serves_files else None
    if named is None:
        raise NotFound("No such image.")
    query = request.query_params
    until = storage.links.admit(named.filename, query.get("expires"), query.get("sig"))
    target = storage.redirect(named)
    if target is not None:
        return RedirectResponse(target, status_code=302, headers={"cache-control": _PRIVATE})
    ref = await storage.find(name)
    if ref is None:
        raise NotFound("No such image.")
    etag = f'"{ref.id}"'
    cache = _IMMUTABLE if until is None else f"private, max-age={_seconds_left(until)}"
    headers = {"cache-control": cache, "etag": etag, "accept-ranges": "bytes"}
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


def _seconds_left(until: int) -> int:
    return max(0, until - int(time.time()))


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
