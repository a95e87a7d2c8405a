"""A :class:`Generation` into OpenAI's ``ImagesResponse`` JSON and the gateway's headers."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from app.access.settlement import remaining_after
from app.core.pricing import NANOS_PER_USD, usd
from app.domain import Charge, Generation
from app.errors import header_value
from app.state.base import JobRecord
from app.storage import ImageUrl


def images_response(
    generation: Generation,
    image_url: ImageUrl,
    *,
    replayed: bool = False,
    charge: Charge | None = None,
    cost_in_body: bool = False,
) -> Response:
    """``cost_in_body``: the body carries the cost headers' ``imagegate`` object too (JSON
    with keep-alives, whose headers may have gone out before the cost was known)."""
    headers = gateway_headers(generation) | cost_headers(generation, charge, replayed=replayed)
    if replayed:
        headers["x-imagegate-idempotent-replay"] = "true"
    body = images_body(generation, image_url)
    if cost_in_body:
        body["imagegate"] = dict(cost_fields(generation, charge, replayed))
    return Response(orjson.dumps(body), media_type="application/json", headers=headers)


def images_body(generation: Generation, image_url: ImageUrl) -> dict[str, Any]:
    """The ``ImagesResponse``; URLs of stored images come from ``image_url`` (the storage's)."""
    data: list[dict[str, str | bool | int]] = []
    for image in generation.images:
        item: dict[str, str | bool | int] = {}
        if generation.response_format == "url" and image.ref is not None:
            url, expires_at = image_url(image.ref)
            item["url"] = url
            if expires_at is not None:  # Unix seconds, like ``created``
                item["expires_at"] = expires_at
        elif image.b64 is not None:
            item["b64_json"] = image.b64
        if image.revised_prompt:
            item["revised_prompt"] = image.revised_prompt
        if image.storage_error is not None:
            item["stored"] = False  # storage failed: this base64 is the only copy
        data.append(item)
    body: dict[str, Any] = {"created": generation.created, "data": data}
    for key in ("background", "output_format", "quality", "size"):
        value = getattr(generation, key)
        if value is not None:
            body[key] = value
    if generation.usage is not None:
        body["usage"] = generation.usage
    if generation.cost_nanos is not None:  # a JSON number for display; headers carry it exactly
        body["cost"] = generation.cost_nanos / NANOS_PER_USD
    if generation.offline_fallback:
        body["offline_fallback"] = True
    return body


def gateway_headers(generation: Generation) -> dict[str, str]:
    headers = {
        "x-imagegate-carrier": generation.carrier,
        "x-imagegate-attempts": header_value(",".join(generation.attempts)),
    }
    if generation.adjustments:
        headers["x-imagegate-adjustments"] = header_value("; ".join(generation.adjustments))
    return headers


def cost_headers(
    generation: Generation, charge: Charge | None, *, replayed: bool
) -> dict[str, str]:
    """``x-imagegate-cost`` (exact USD: what the request is charged; 0 for a replay) and, when
    a budget applies, ``x-imagegate-budget-remaining`` (the least left over the key and its
    team)."""
    return {COST_HEADERS[name]: value for name, value in cost_fields(generation, charge, replayed)}


COST_HEADERS = {"cost": "x-imagegate-cost", "budget_remaining": "x-imagegate-budget-remaining"}


def cost_fields(
    generation: Generation, charge: Charge | None, replayed: bool = False
) -> list[tuple[str, str]]:
    """What the cost headers say, as (field, exact USD string) pairs; also the ``imagegate``
    object of a stream's completed event and of an async job's result."""
    cost = 0 if replayed else generation.cost_nanos
    if cost is None and charge is not None and charge.hold_id is not None:
        cost = charge.estimate_nanos  # what settlement charges when the cost is unknown
    if cost is None:
        return []
    fields = [("cost", usd(cost))]
    left = None if charge is None else remaining_after(charge, cost)
    if left is not None:
        fields.append(("budget_remaining", usd(left)))
    return fields


_JOB_COST = b'{"imagegate":'


def job_result(generation: Generation, image_url: ImageUrl, charge: Charge | None) -> bytes:
    """An async job's stored result: the ``ImagesResponse`` led by an ``imagegate`` object
    with its cost (as the headers of a plain answer say it), read back by :func:`job_status`."""
    body = images_body(generation, image_url)
    return orjson.dumps({"imagegate": dict(cost_fields(generation, charge)), **body})


def _job_cost_headers(result: bytes) -> dict[str, str]:
    """The cost headers of a stored job result: its leading ``imagegate`` object (flat, so
    the first ``}`` ends it), without parsing the images."""
    if not result.startswith(_JOB_COST):
        return {}
    end = result.find(b"}", len(_JOB_COST))
    fields = orjson.loads(result[len(_JOB_COST) : end + 1])
    return {COST_HEADERS[k]: v for k, v in fields.items() if k in COST_HEADERS}


def job_accepted(record: JobRecord, base_url: str) -> Response:
    status_url = f"{base_url}/v1/images/jobs/{record.id}"
    body = {**_job_fields(record), "status_url": status_url}
    headers = {"location": status_url, "preference-applied": "respond-async"}
    return Response(
        orjson.dumps(body), status_code=202, media_type="application/json", headers=headers
    )


def job_status(record: JobRecord) -> Response:
    """The job, with the stored response (or error) spliced in without re-parsing it."""
    head = orjson.dumps(_job_fields(record))[:-1]
    if record.result is not None:
        head += b',"result":' + record.result
    if record.error is not None:
        head += b',"error":' + record.error
    headers = _job_cost_headers(record.result) if record.result is not None else None
    return Response(head + b"}", media_type="application/json", headers=headers)


def _job_fields(record: JobRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "object": "image.job",
        "status": record.status,
        "created_at": int(record.created_at),
        "completed_at": int(record.completed_at) if record.completed_at else None,
    }


def json_response(body: object) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")
