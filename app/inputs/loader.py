"""Edit inputs: from what a client sent (uploads, URLs, data URIs) to checked :class:`InputImage`s.

The HTTP edge parses a request into an :class:`EditRequest` whose images are *sources*. The
:class:`InputLoader` turns each source into bytes in the request's spool (fetching URLs with the
SSRF-safe fetcher, decoding data URIs in bounded slices) and checks the bytes with
``app.inputs.images.inspect`` in a worker thread.
The cheap checks that need no bytes (edits supported,
image count, mask allowed, JSON allowed) run first, so nothing is fetched for a request that
would be refused anyway. What the model accepts is checked afterwards by ``normalize``.
"""

from __future__ import annotations

import asyncio
import binascii
import re
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from app.config.rules import RuleSet
from app.config.schema import GatewayConfig
from app.core.edits import (
    check_count,
    check_mask_allowed,
    edit_limits,
    file_too_large,
    unsupported_file,
)
from app.domain import Blob, InputImage, InputOrigin
from app.errors import GatewayError, InvalidRequest
from app.inputs.data_uris import INLINE_LIMIT, InlineImage
from app.inputs.fetch import FetchError, SafeFetcher
from app.inputs.images import BadImage, inspect
from app.inputs.inflight import ByteBudget
from app.inputs.own_urls import OwnOrigins, own_file_name
from app.inputs.spool import Spool
from app.storage import Storage

_DATA_URI = re.compile(r"^data:([^,]{0,200}),", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s")
_SLICE = 4 * 1024 * 1024  # base64 characters decoded at a time (a multiple of 4)
_ALL_FORMATS = ("png", "jpeg", "webp")


@dataclass(frozen=True, slots=True)
class Upload:
    """A file part of a multipart edit, already in the spool."""

    blob: Blob
    filename: str
    declared_type: str
    param: str


@dataclass(frozen=True, slots=True)
class Reference:
    """An image given by reference in a JSON edit: an http(s) URL or a data URI."""

    url: str
    param: str


ImageSource = Upload | Reference


@dataclass(frozen=True, slots=True)
class EditRequest:
    """A parsed edit request: parameters for ``normalize`` and the image sources, in order."""

    params: dict[str, Any]
    images: tuple[ImageSource, ...]
    mask: ImageSource | None
    form: Literal["multipart", "json"]
    images_key: str = "image"  # what the client called the list, for "missing" errors
    # Long data URIs already decoded into the spool while the body streamed in, by the
    # placeholder that stands for them in ``images``/``mask`` (``app.inputs.data_uris``).
    inline: Mapping[str, InlineImage] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UploadLimits:
    """What the HTTP edge enforces while reading, before the model is known."""

    max_body: int
    max_json_body: int
    max_file_bytes: int
    max_images: int
    max_json_skeleton: int  # a JSON edit without its long data URIs (413 above)

    @classmethod
    def from_config(cls, config: GatewayConfig) -> UploadLimits:
        edits = [rules.edit for rules in config.rule_sets.values() if rules.edit is not None]
        max_images = max((e.max_images for e in edits), default=1)
        return cls(
            max_body=config.server.max_upload_bytes,
            max_json_body=config.server.max_json_edit_bytes,
            max_file_bytes=max((e.max_image_bytes for e in edits), default=1),
            max_images=max_images,
            max_json_skeleton=config.server.max_json_bytes + (max_images + 1) * INLINE_LIMIT,
        )


@dataclass(frozen=True, slots=True)
class _Context:
    """What every input of one request shares while it is loaded."""

    spool: Spool
    fetching: asyncio.Semaphore
    own: OwnOrigins
    inline: Mapping[str, InlineImage]


class InputLoader:
    def __init__(self, config: GatewayConfig, fetcher: SafeFetcher, storage: Storage) -> None:
        self.limits = UploadLimits.from_config(config)
        self.json_in_flight = ByteBudget(config.server.max_json_edits_in_flight_bytes)
        self._fetcher = fetcher
        self._storage = storage
        self._max_pixels = config.server.max_input_pixels
        self._concurrency = config.fetch.concurrency
        self._spool_directory = config.server.spool_directory
        self._spool_threshold = config.server.spool_threshold_bytes

    def spool(self) -> Spool:
        """A new spool for one request; close it (``with``) when the request is done."""
        return Spool(self._spool_directory, self._spool_threshold)

    async def load(
        self,
        request: EditRequest,
        rules: RuleSet,
        model: str,
        spool: Spool,
        own: OwnOrigins | None = None,
    ) -> tuple[tuple[InputImage, ...], InputImage | None]:
        """The checked images and mask; raises an :class:`InvalidRequest` naming the input.
        URLs on ``own`` origins (this gateway's) are read from storage, not fetched."""
        limits = edit_limits(rules, model)
        check_count(len(request.images), limits, model, request.images_key)
        if request.mask is not None:
            check_mask_allowed(limits, model, request.mask.param)
        if request.form == "json" and not limits.json_inputs:
            raise InvalidRequest(
                f"Model '{model}' takes edits as multipart/form-data uploads only, not JSON.",
                param="images",
                code="unsupported_content_type",
            )
        fetching = asyncio.Semaphore(self._concurrency)
        own = own or OwnOrigins()
        context = _Context(spool, fetching, own, request.inline)
        jobs = [self._one(s, limits.max_image_bytes, context) for s in request.images]
        if request.mask is not None:
            jobs.append(self._one(request.mask, limits.mask_max_bytes, context))
        loaded = await _ordered_gather(jobs)
        mask = loaded.pop() if request.mask is not None else None
        return tuple(loaded), mask

    async def _one(self, source: ImageSource, max_bytes: int, context: _Context) -> InputImage:
        if isinstance(source, Upload):
            blob, filename, declared = source.blob, source.filename, source.declared_type
            origin: InputOrigin = "upload"
        elif source.url in context.inline:
            blob, filename, declared = (
                context.inline[source.url].checked(source.param, max_bytes),
                "",
                "",
            )
            origin = "data_uri"
        elif (name := self._own_file(source.url, context.own)) is not None:
            blob = await self._read_own(name, source.param, max_bytes, context.spool)
            filename, declared = name, ""
            origin = "url"
        else:
            async with context.fetching:
                blob, filename, declared, origin = await self._fetch(
                    source, max_bytes, context.spool
                )
        return await asyncio.to_thread(
            self._inspect, blob, filename, declared, origin, source.param
        )

    def _own_file(self, url: str, own: OwnOrigins) -> str | None:
        return own_file_name(url, own) if self._storage.serves_files else None

    async def _read_own(self, name: str, param: str, max_bytes: int, spool: Spool) -> Blob:
        """One of this gateway's own images, streamed from storage into the spool."""
        ref = await self._storage.find(name)
        if ref is None:
            raise InvalidRequest(
                f"Invalid image URL in '{param}': this gateway has no image '{name}'.",
                param=param,
                code="invalid_image_url",
            )
        if ref.byte_size > max_bytes:
            raise file_too_large(param, max_bytes)
        writer = spool.writer()
        async for chunk in self._storage.stream(ref, 0, ref.byte_size):
            await writer.write(chunk)
        return await writer.finish()

    async def _fetch(
        self, source: Reference, max_bytes: int, spool: Spool
    ) -> tuple[Blob, str, str, InputOrigin]:
        if _DATA_URI.match(source.url):
            blob = await decode_data_uri(source.url, source.param, max_bytes, spool)
            return blob, "", "", "data_uri"
        try:
            blob = await self._fetcher.fetch(source.url, spool.writer(), max_bytes)
        except FetchError as exc:
            if exc.too_large:
                raise file_too_large(source.param, max_bytes) from None
            raise InvalidRequest(
                f"Invalid image URL in '{source.param}': {exc.message}.",
                param=source.param,
                code="invalid_image_url",
            ) from None
        return blob, _url_filename(source.url), "", "url"

    def _inspect(
        self, blob: Blob, filename: str, declared: str, origin: InputOrigin, param: str
    ) -> InputImage:
        with blob.open() as stream:
            try:
                info = inspect(stream, blob.size, self._max_pixels)
            except BadImage as exc:
                raise _bad_image(exc, param, declared) from None
        return InputImage(blob, info.format, info.width, info.height, info.has_alpha,
                          filename, param, origin)  # fmt: skip


async def decode_data_uri(uri: str, param: str, max_bytes: int, spool: Spool) -> Blob:
    """Decode a base64 data URI into the spool, a slice at a time in a worker thread."""
    header = _DATA_URI.match(uri)
    if header is None or not header.group(1).lower().endswith(";base64"):
        raise InvalidRequest(
            f"Invalid data URI in '{param}': only base64 data URIs are accepted "
            "('data:image/png;base64,...').",
            param=param,
            code="invalid_image_url",
        )
    payload = uri[header.end() :]
    if len(payload) // 4 * 3 > max_bytes * 1.05 + 3:  # 5% for line breaks
        raise file_too_large(param, max_bytes)
    writer = spool.writer()
    carry = ""
    for start in range(0, len(payload), _SLICE):
        last = start + _SLICE >= len(payload)
        try:
            data, carry = await asyncio.to_thread(
                _decode_slice, carry + payload[start : start + _SLICE], last
            )
        except (binascii.Error, UnicodeEncodeError):
            raise InvalidRequest(
                f"Invalid data URI in '{param}': the data is not valid base64.",
                param=param,
                code="invalid_image_url",
            ) from None
        if writer.size + len(data) > max_bytes:
            raise file_too_large(param, max_bytes)
        await writer.write(data)
    return await writer.finish()


def _decode_slice(text: str, last: bool) -> tuple[bytes, str]:
    """Strict base64 for whole 4-character groups of ``text``; the rest is carried over."""
    if _WHITESPACE.search(text):
        text = _WHITESPACE.sub("", text)
    if last:
        text += "=" * (-len(text) % 4)
    cut = len(text) - len(text) % 4
    return binascii.a2b_base64(text[:cut].encode("ascii"), strict_mode=True), text[cut:]


def _bad_image(exc: BadImage, param: str, declared: str) -> InvalidRequest:
    if exc.problem == "not_an_image":
        sent = f" (sent as '{declared[:100]}')" if declared else ""
        return unsupported_file(param, f"{exc.detail}{sent}", _ALL_FORMATS)
    code = "image_too_large" if exc.problem == "too_many_pixels" else "invalid_image"
    return InvalidRequest(f"Invalid file '{param}': {exc.detail}.", param=param, code=code)


async def _ordered_gather(
    jobs: Sequence[Coroutine[Any, Any, InputImage]],
) -> list[InputImage]:
    """Run ``jobs`` together; on failure cancel the rest and raise the first input's error."""
    tasks: list[asyncio.Task[InputImage]] = []
    try:
        async with asyncio.TaskGroup() as group:
            for job in jobs:
                tasks.append(group.create_task(job))
    except BaseExceptionGroup:
        failed = [t.exception() for t in tasks if t.done() and not t.cancelled()]
        errors = [e for e in failed if isinstance(e, GatewayError)]
        if errors:
            raise errors[0] from None
        raise
    return [task.result() for task in tasks]


def _url_filename(url: str) -> str:
    name = PurePosixPath(unquote(urlsplit(url).path)).name
    return name[:200]
