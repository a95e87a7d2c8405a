"""Request bodies into plain parameter mappings, with size limits enforced while reading.

Edits come as ``multipart/form-data`` (``app.api.multipart``) or JSON, in OpenAI's form
(``images: [{"image_url": ...}]``, ``mask: {"image_url": ...}``) or ImageRouter's (``image``: a
URL or data URI, or a list of them; ``mask`` likewise). Both become an :class:`EditRequest`.
A JSON edit streams in: its long data URIs are decoded into the spool as they arrive
(``app.inputs.data_uris``), and its bytes count against the in-flight cap while it runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import Request

from app.api.multipart import read_multipart, too_large
from app.errors import InvalidRequest, InvalidType, UnsupportedParameter
from app.inputs.data_uris import DataUriExtractor, InlineImage
from app.inputs.inflight import ByteBudget
from app.inputs.loader import EditRequest, Reference, UploadLimits
from app.inputs.spool import Spool


async def read_body(request: Request, limit: int) -> bytearray:
    """The whole body (not copied again: orjson parses a bytearray), at most ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large(limit)
    return body


async def read_json_object(request: Request, limit: int) -> dict[str, Any]:
    """The request's JSON object; wrong content types, bad JSON and non-objects are 400."""
    _check_json_type(request)
    return _json_object(await read_body(request, limit))


def _check_json_type(request: Request) -> None:
    content_type = request.headers.get("content-type", "")
    mime = content_type.partition(";")[0].strip().lower()
    if mime and mime != "application/json" and not mime.endswith("+json"):
        raise InvalidRequest(
            f"Unsupported Content-Type '{mime[:100]}': send a JSON body with "
            "'Content-Type: application/json'.",
            code="unsupported_content_type",
        )


def _json_object(body: bytes | bytearray) -> dict[str, Any]:
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


async def read_edit_request(
    request: Request, spool: Spool, limits: UploadLimits, in_flight: ByteBudget
) -> EditRequest:
    """An edit as multipart (files go to ``spool``) or as JSON (images by reference)."""
    mime = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if mime == "multipart/form-data":
        return await read_multipart(request, spool, limits)
    if mime in ("", "application/json") or mime.endswith("+json"):
        return await read_json_edit(request, spool, limits, in_flight)
    raise InvalidRequest(
        f"Unsupported Content-Type '{mime[:100]}': send an edit as multipart/form-data (files) "
        "or application/json (image URLs or data URIs).",
        code="unsupported_content_type",
    )


async def read_json_edit(
    request: Request, spool: Spool, limits: UploadLimits, in_flight: ByteBudget
) -> EditRequest:
    """A JSON edit, streamed: long data URIs go to the spool, the rest is parsed at the end.
    Its bytes are held in ``in_flight`` until the spool closes (503 when they do not fit)."""
    reservation = in_flight.reservation()
    spool.on_close(reservation.release)
    declared = request.headers.get("content-length", "")
    if declared.isdigit():
        if int(declared) > limits.max_json_body:
            raise too_large(limits.max_json_body)
        reservation.grow_to(int(declared))
    extractor = DataUriExtractor(spool, limits.max_json_skeleton)
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limits.max_json_body:
            raise too_large(limits.max_json_body)
        reservation.grow_to(received)
        await extractor.feed(chunk)
        if len(extractor.skeleton) > limits.max_json_skeleton:
            raise too_large(limits.max_json_skeleton, "outside its data URIs")
    edit = edit_from_json(_json_object(extractor.skeleton), extractor.images)
    sources = {s.url for s in (*edit.images, edit.mask) if isinstance(s, Reference)}
    if not sources.issuperset(extractor.images):
        raise InvalidRequest(
            "A string starting with 'data:' longer than 64 KiB is only accepted as an image "
            "or a mask.",
            code="invalid_value",
        )
    return edit


def edit_from_json(
    data: dict[str, Any], inline: Mapping[str, InlineImage] | None = None
) -> EditRequest:
    """OpenAI's JSON edit form, or ImageRouter's; ``file_id`` references are refused."""
    params = {k: v for k, v in data.items() if k not in ("image", "images", "mask")}
    if data.get("images") is not None and data.get("image") is not None:
        raise InvalidRequest("Send either 'images' or 'image', not both.", param="image")
    key = "images" if data.get("images") is not None else "image"
    value = data.get(key)
    if value is None:
        entries: list[Any] = []
    elif isinstance(value, list):
        entries = value
    elif key == "image":
        entries = [value]
    else:
        raise InvalidType(_expected("images", "an array of image references", value), param=key)
    single = key == "image" and not isinstance(value, list)
    images = tuple(
        _reference(entry, key if single else f"{key}[{i}]") for i, entry in enumerate(entries)
    )
    return EditRequest(
        params=params,
        images=images,
        mask=_mask(data.get("mask")),
        form="json",
        images_key=key,
        inline=inline or {},
    )


def _mask(value: Any) -> Reference | None:
    if isinstance(value, list):
        if len(value) > 1:
            raise InvalidRequest("Send one mask.", param="mask", code="duplicate_parameter")
        value = value[0] if value else None
    return None if value is None else _reference(value, "mask")


def _reference(entry: Any, param: str) -> Reference:
    """``"https://..."``, ``{"image_url": "..."}`` or ``{"image_url": {"url": "..."}}``."""
    if isinstance(entry, dict):
        if "file_id" in entry:
            raise UnsupportedParameter(
                f"'{param}' refers to a file_id: this gateway has no Files API. Send the image "
                "as 'image_url' (an http(s) URL or a base64 data URI), or upload it as "
                "multipart/form-data.",
                param=param,
            )
        url = entry.get("image_url")
        if isinstance(url, dict):
            url = url.get("url")
    else:
        url = entry
    if not isinstance(url, str) or not url.strip():
        raise InvalidType(
            _expected(param, "an image URL, a data URI or {'image_url': ...}", entry), param=param
        )
    return Reference(url.strip(), param)


def _expected(name: str, what: str, value: object) -> str:
    got = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
           list: "an array", dict: "an object"}.get(type(value), "another type")  # fmt: skip
    return f"Invalid type for '{name}': expected {what}, but got {got} instead."
