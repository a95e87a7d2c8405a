"""Frozen internal values that move one way through the pipeline.

raw params -> ImageJob -> (carrier) CarrierResult -> StoredImage... -> Generation
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, BinaryIO, Literal, Protocol

Operation = Literal["generate", "edit"]
ResponseFormat = Literal["url", "b64_json", "b64_ephemeral"]
ImageFormat = Literal["png", "jpeg", "webp"]
InputOrigin = Literal["upload", "url", "data_uri"]

MEDIA_TYPES: dict[str, str] = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


class Blob(Protocol):
    """Bytes held for the length of one request, in memory or in a temporary file."""

    @property
    def size(self) -> int: ...

    def open(self) -> BinaryIO:
        """A new, independent reader positioned at the start; the caller closes it."""
        ...


@dataclass(frozen=True, slots=True)
class InputImage:
    """An edit input, already checked by its bytes: where they are, what they are, whence."""

    blob: Blob
    format: ImageFormat
    width: int
    height: int
    has_alpha: bool
    filename: str
    param: str
    origin: InputOrigin = "upload"

    @property
    def byte_size(self) -> int:
        return self.blob.size

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]


@dataclass(frozen=True, slots=True)
class ImageJob:
    """A validated, normalized request: every field here is accepted by the model's rule set.

    Provider-neutral: how a carrier puts it on the wire is the carrier's business."""

    operation: Operation
    model: str
    prompt: str
    n: int = 1
    size: str | None = None
    quality: str | None = None
    background: str | None = None
    output_format: str | None = None
    output_compression: int | None = None
    moderation: str | None = None
    style: str | None = None
    input_fidelity: str | None = None
    user: str | None = None
    stream: bool = False
    partial_images: int | None = None
    response_format: ResponseFormat = "url"
    images: tuple[InputImage, ...] = ()
    mask: InputImage | None = None
    adjustments: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class UpstreamImage:
    """One image as a carrier produced it: exactly one of ``b64``, ``url`` or ``data`` is set.

    ``b64`` may be the raw ASCII bytes of the base64 text (a view of the upstream body, free of
    JSON escapes but not yet validated): re-hosting decodes it or passes it through, so no
    multi-MB string is built for a client that never sees it."""

    b64: str | memoryview | None = None
    url: str | None = None
    data: bytes | None = None
    revised_prompt: str | None = None


@dataclass(frozen=True, slots=True)
class PartialImage:
    """A streamed, unfinished image, passed through to the client as it arrives."""

    b64: str
    index: int
    size: str | None = None
    quality: str | None = None
    background: str | None = None
    output_format: str | None = None
    created_at: int | None = None


@dataclass(frozen=True, slots=True)
class CarrierResult:
    images: tuple[UpstreamImage, ...]
    usage: dict[str, Any] | None = None
    size: str | None = None
    quality: str | None = None
    background: str | None = None
    output_format: str | None = None


@dataclass(frozen=True, slots=True)
class StoredRef:
    """What a storage backend needs to find one stored image again: its id, format and size."""

    id: str
    format: ImageFormat
    byte_size: int

    @property
    def filename(self) -> str:
        return f"{self.id}.{self.format}"


@dataclass(frozen=True, slots=True)
class StoredImage:
    """An image Imagegate produced: format, size in bytes, where it is stored (``ref``, None
    when it was not stored) and, if asked for, its base64 text."""

    format: ImageFormat
    byte_size: int
    ref: StoredRef | None = None
    b64: str | None = None
    revised_prompt: str | None = None

    @property
    def id(self) -> str | None:
        return None if self.ref is None else self.ref.id

    @property
    def filename(self) -> str:
        return f"{self.id}.{self.format}"


@dataclass(frozen=True, slots=True)
class Generation:
    """The finished result of one request, ready to render. It carries what rendering needs
    (the operation, the delivery format, the adjustments made), never the input images."""

    operation: Operation
    model: str
    response_format: ResponseFormat
    carrier: str
    images: tuple[StoredImage, ...]
    created: int
    usage: dict[str, Any] | None = None
    cost: float | None = None
    size: str | None = None
    quality: str | None = None
    background: str | None = None
    output_format: str | None = None
    adjustments: tuple[str, ...] = ()
    attempts: tuple[str, ...] = field(default=())
    attempt_seconds: tuple[float, ...] = ()  # each attempt's duration, in the order of attempts


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a stable, non-secret id (never the key) and a name for logs and records;
    ``team`` when the key belongs to one."""

    id: str
    name: str
    team: str | None = None


Outcome = Literal["succeeded", "failed"]


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """What one request did and cost: built once per request, success or failure, whatever
    the response mode, and handed to every usage sink (log, ledger, metrics, budgets)."""

    request_id: str
    principal_id: str
    principal_name: str
    model: str
    operation: Operation
    outcome: Outcome
    error_code: str | None = None
    carrier: str | None = None
    attempts: tuple[str, ...] = ()
    images: int = 0
    pixels: int | None = None
    output_bytes: int = 0
    size: str | None = None
    quality: str | None = None
    output_format: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost: float | None = None
    latency: float = 0.0
    stream: bool = False
    async_job: bool = False
    replay: bool = False
    client_gone: bool = False
    team: str | None = None
    attempt_seconds: tuple[float, ...] = ()
    adjustments: tuple[str, ...] = ()
    storage_errors: int = 0  # images answered as base64 because storing them failed
