"""Request bodies into plain parameter mappings, with size limits enforced while reading."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request

from app.errors import InvalidRequest, PayloadTooLarge


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _too_large(limit)
    return bytes(body)


async def read_json_object(request: Request, limit: int) -> dict[str, Any]:
    """The request's JSON object; wrong content types, bad JSON and non-objects are 400."""
    content_type = request.headers.get("content-type", "")
    mime = content_type.partition(";")[0].strip().lower()
    if mime and mime != "application/json" and not mime.endswith("+json"):
        raise InvalidRequest(
            f"Unsupported Content-Type '{mime[:100]}': send a JSON body with "
            "'Content-Type: application/json'.",
            code="unsupported_content_type",
        )
    body = await read_body(request, limit)
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(
            f"The request body is not valid JSON ({exc.msg} at character {exc.pos}).",
            code="invalid_json",
        ) from None
    if not isinstance(data, dict):
        raise InvalidRequest(
            'The request body must be a JSON object, e.g. {"prompt": "..."}.',
            code="invalid_json",
        )
    return data


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The request body is larger than this gateway's limit of {limit:,} bytes."
    )
