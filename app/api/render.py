"""A :class:`Generation` into OpenAI's ``ImagesResponse`` JSON and the gateway's headers."""

from __future__ import annotations

import re
from typing import Any

import orjson
from starlette.responses import Response

from app.domain import Generation

_UNSAFE = re.compile(r"[^\x20-\x7e]")


def images_response(generation: Generation, base_url: str, *, replayed: bool = False) -> Response:
    headers = gateway_headers(generation)
    if replayed:
        headers["x-imagegate-idempotent-replay"] = "true"
    return Response(
        orjson.dumps(images_body(generation, base_url)),
        media_type="application/json",
        headers=headers,
    )


def images_body(generation: Generation, base_url: str) -> dict[str, Any]:
    data: list[dict[str, str]] = []
    for image in generation.images:
        item: dict[str, str] = {}
        if generation.job.response_format == "url" and image.id is not None:
            item["url"] = f"{base_url}/images/{image.filename}"
        elif image.b64 is not None:
            item["b64_json"] = image.b64
        if image.revised_prompt:
            item["revised_prompt"] = image.revised_prompt
        data.append(item)
    body: dict[str, Any] = {"created": generation.created, "data": data}
    for key in ("background", "output_format", "quality", "size"):
        value = getattr(generation, key)
        if value is not None:
            body[key] = value
    if generation.usage is not None:
        body["usage"] = generation.usage
    if generation.cost is not None:
        body["cost"] = generation.cost
    return body


def gateway_headers(generation: Generation) -> dict[str, str]:
    headers = {
        "x-imagegate-carrier": generation.carrier,
        "x-imagegate-attempts": header_value(",".join(generation.attempts)),
    }
    if generation.job.adjustments:
        headers["x-imagegate-adjustments"] = header_value("; ".join(generation.job.adjustments))
    return headers


def header_value(text: str, limit: int = 2000) -> str:
    """Printable ASCII only (no header injection, no encoding surprises), bounded in length."""
    return _UNSAFE.sub("?", text)[:limit]
