"""Streaming ``multipart/form-data`` for edits: text fields into a dict, files into the spool.

Accepted file parts: ``image`` (one, or repeated), ``image[]`` (what the OpenAI SDKs send),
``image[0]``, ``image[1]``... (ordered by index), and ``mask`` or ``mask[]``. Images keep their
order. A part is a file when it has a ``filename`` or a non-text Content-Type; ``image`` sent as
a text field is refused the way OpenAI refuses it. Limits hold while reading, before anything
is buffered: the whole body (413), each file (400 naming the part), the number of images, and
the number and size of text fields. The declared Content-Type of a file is kept for messages
only: the bytes decide what an image is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from app.core.edits import file_too_large
from app.domain import Blob
from app.errors import InvalidRequest, InvalidType, PayloadTooLarge
from app.inputs.loader import EditRequest, Upload, UploadLimits
from app.inputs.spool import Spool, SpoolWriter

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

_IMAGE = re.compile(r"^image(?:\[(\d{0,4})\])?$")
_MASK = re.compile(r"^mask(?:\[\])?$")
_KNOWN_TEXT = frozenset(
    {"prompt", "model", "n", "size", "quality", "response_format", "output_format",
     "output_compression", "background", "moderation", "style", "stream", "partial_images",
     "user", "input_fidelity"}
)  # fmt: skip
_MAX_FIELDS = 64
_MAX_FIELD_BYTES = 256 * 1024
_MAX_BOUNDARY = 256  # RFC 2046 allows 70; longer ones only slow the parser down


@dataclass
class _Part:
    name: str
    filename: str
    content_type: str
    param: str
    index: int | None = None  # N of image[N]
    writer: SpoolWriter | None = None
    blob: Blob | None = None
    text: bytearray = field(default_factory=bytearray)

    def upload(self, param: str) -> Upload:
        assert self.blob is not None
        return Upload(self.blob, self.filename, self.content_type, param)


class _Collector:
    """python-multipart callbacks (synchronous) building parts; file bytes go to the spool."""

    def __init__(self, spool: Spool, limits: UploadLimits) -> None:
        self.spool = spool
        self.limits = limits
        self.fields: dict[str, str] = {}
        self.images: list[_Part] = []
        self.mask: _Part | None = None
        self.finished: list[_Part] = []
        self.current: _Part | None = None
        self.ended = False
        self._headers: dict[bytes, bytes] = {}
        self._header_name = b""
        self._header_value = b""

    def on_part_begin(self) -> None:
        self._headers = {}

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._header_name.strip().lower()] = self._header_value.strip()
        self._header_name = self._header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        if b"name" not in options:
            raise _malformed("a part has no name in its Content-Disposition header")
        name = _decode(options[b"name"])[:100]
        content_type = _decode(self._headers.get(b"content-type", b""))[:100]
        is_file = b"filename" in options or (
            content_type != "" and not content_type.lower().startswith("text/")
        )
        part = _Part(name, _decode(options.get(b"filename", b"")), content_type, name)
        if not is_file:
            self._start_text(part)
        elif (match := _IMAGE.match(name)) is not None:
            self._start_image(part, match.group(1))
        elif _MASK.match(name):
            self._start_mask(part)
        elif name in _KNOWN_TEXT:
            raise InvalidType(
                f"Invalid type for '{name}': expected a string, but got a file instead.",
                param=name,
            )
        else:
            raise InvalidRequest(
                f"Unknown file part '{name}': send images as 'image' or 'image[]' parts and "
                "the mask as 'mask'.",
                param=name,
                code="unknown_parameter",
            )
        self.current = part

    def _start_text(self, part: _Part) -> None:
        base = part.name.partition("[")[0]
        if base in ("image", "mask"):
            expected = "one of an array of files or file" if base == "image" else "a file"
            raise InvalidType(
                f"Invalid type for '{base}': expected {expected}, but got a string instead.",
                param=part.name,
            )
        if part.name in self.fields:
            raise InvalidRequest(
                f"Duplicate parameter '{part.name}': send it once.",
                param=part.name,
                code="duplicate_parameter",
            )
        if len(self.fields) >= _MAX_FIELDS:
            raise InvalidRequest(f"Too many form fields (more than {_MAX_FIELDS}).")

    def _start_image(self, part: _Part, index: str | None) -> None:
        if len(self.images) >= self.limits.max_images:
            raise InvalidRequest(
                f"Too many images: more than {self.limits.max_images}, the most any model of "
                "this gateway takes per edit.",
                param="image",
                code="array_above_max_length",
            )
        if index is not None and index != "":
            part.index = int(index)
        else:
            part.param = "image" if index is None else f"image[{len(self.images)}]"
        part.writer = self.spool.writer()
        self.images.append(part)

    def _start_mask(self, part: _Part) -> None:
        if self.mask is not None:
            raise InvalidRequest(
                "Duplicate parameter 'mask': send one mask.",
                param="mask",
                code="duplicate_parameter",
            )
        part.param = "mask"
        part.writer = self.spool.writer()
        self.mask = part

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self.current
        assert part is not None
        if part.writer is not None:
            if part.writer.size + (end - start) > self.limits.max_file_bytes:
                raise file_too_large(part.param, self.limits.max_file_bytes)
            part.writer.append(data[start:end])
        else:
            if len(part.text) + (end - start) > _MAX_FIELD_BYTES:
                raise InvalidRequest(
                    f"The form field '{part.name}' is larger than {_MAX_FIELD_BYTES:,} bytes.",
                    param=part.name,
                )
            part.text += data[start:end]

    def on_part_end(self) -> None:
        part, self.current = self.current, None
        assert part is not None
        if part.writer is not None:
            self.finished.append(part)
            return
        try:
            self.fields[part.name] = part.text.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidRequest(
                f"The form field '{part.name}' is not valid UTF-8.", param=part.name
            ) from None

    def on_end(self) -> None:
        self.ended = True


async def read_multipart(request: Request, spool: Spool, limits: UploadLimits) -> EditRequest:
    """Parse a multipart edit while it streams in; raise a 4xx for anything malformed."""
    _, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if not boundary:
        raise _malformed("the Content-Type header has no boundary")
    if len(boundary) > _MAX_BOUNDARY:
        raise _malformed(f"the boundary is longer than {_MAX_BOUNDARY} characters")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limits.max_body:
        raise too_large(limits.max_body)
    collector = _Collector(spool, limits)
    parser = MultipartParser(boundary, _callbacks(collector))
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limits.max_body:
            raise too_large(limits.max_body)
        try:
            parser.write(chunk)
        except MultipartParseError as exc:
            raise _malformed(str(exc)) from None
        await _settle(collector)
    if not collector.ended:
        raise _malformed("the body ended before the closing boundary")
    return EditRequest(
        params=dict(collector.fields),
        images=_ordered_images(collector.images),
        mask=collector.mask.upload("mask") if collector.mask and _present(collector.mask) else None,
        form="multipart",
    )


def _callbacks(c: _Collector) -> MultipartCallbacks:
    return {
        "on_part_begin": c.on_part_begin,
        "on_part_data": c.on_part_data,
        "on_part_end": c.on_part_end,
        "on_header_field": c.on_header_field,
        "on_header_value": c.on_header_value,
        "on_header_end": c.on_header_end,
        "on_headers_finished": c.on_headers_finished,
        "on_end": c.on_end,
    }


async def _settle(collector: _Collector) -> None:
    """The async half of the callbacks: spill the open file to disk, finish completed ones."""
    current = collector.current
    if current is not None and current.writer is not None:
        await current.writer.drain()
    for part in collector.finished:
        assert part.writer is not None
        part.blob = await part.writer.finish()
    collector.finished.clear()


def _present(part: _Part) -> bool:
    """False for the empty part a browser sends for a file input left empty."""
    return part.blob is not None and (part.blob.size > 0 or part.filename != "")


def _ordered_images(parts: list[_Part]) -> tuple[Upload, ...]:
    images = [part for part in parts if _present(part)]
    indexed = [part for part in images if part.index is not None]
    if not indexed:
        if len(images) == 1 and images[0].name == "image":
            return (images[0].upload("image"),)
        return tuple(part.upload(f"image[{i}]") for i, part in enumerate(images))
    if len(indexed) != len(images):
        raise InvalidRequest(
            "Send images either as 'image[0]', 'image[1]'... or as 'image[]' (or 'image') "
            "parts, not both.",
            param="image",
        )
    indexed.sort(key=lambda part: part.index or 0)
    for before, after in zip(indexed, indexed[1:], strict=False):
        if before.index == after.index:
            raise InvalidRequest(
                f"Duplicate parameter 'image[{after.index}]'.",
                param=f"image[{after.index}]",
                code="duplicate_parameter",
            )
    return tuple(part.upload(f"image[{part.index}]") for part in indexed)


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _malformed(why: str) -> InvalidRequest:
    return InvalidRequest(f"The multipart body is malformed: {why}.", code="invalid_multipart")


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The request body is larger than this gateway's limit of {limit:,} bytes."
    )
