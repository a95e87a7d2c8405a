"""Frozen internal values that move one way through the pipeline.

raw params -> ImageJob -> (carrier) CarrierResult -> StoredImage... -> Generation
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
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
    when it was not stored) and, if asked for, its base64 text. ``storage_error`` says why an
    image meant to be stored could not be (it is then answered as base64)."""

    format: ImageFormat
    byte_size: int
    ref: StoredRef | None = None
    b64: str | None = None
    revised_prompt: str | None = None
    storage_error: str | None = None
    width: int | None = None  # read from the stored bytes' header; None when not stored
    height: int | None = None

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
    cost_nanos: int | None = None  # USD 1e-9; None when the route has no price
    size: str | None = None
    quality: str | None = None
    background: str | None = None
    output_format: str | None = None
    adjustments: tuple[str, ...] = ()
    attempts: tuple[str, ...] = field(default=())
    # An offline carrier stood in after the real carriers failed (the operator opted in).
    offline_fallback: bool = False
    attempt_seconds: tuple[float, ...] = ()  # each attempt's duration, in the order of attempts


BudgetPeriod = Literal["day", "week", "month", "total"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Image-native limits of a key or a team (issue 12 §3); None means "no limit of this
    kind". ``models`` may name aliases; ``budget_nanos`` is USD 1e-9 per ``budget_period``."""

    models: frozenset[str] | None = None
    max_n: int | None = None
    max_pixels: int | None = None
    qualities: frozenset[str] | None = None
    max_edit_images: int | None = None
    images_per_minute: int | None = None
    requests_per_minute: int | None = None
    max_concurrent: int | None = None
    budget_nanos: int | None = None
    budget_period: BudgetPeriod = "month"

    @property
    def rated(self) -> bool:
        """Whether any rate or concurrency limit applies (admission then counts)."""
        return (
            self.images_per_minute is not None
            or self.requests_per_minute is not None
            or self.max_concurrent is not None
        )


NO_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a stable, non-secret id (never the key) and a name for logs and records;
    ``team`` (its id) when the key belongs to one. ``limits`` are the key's, ``team_limits`` its
    team's (they cap all the team's keys together); ``expires_at`` is when the key (or, during
    a rotation's grace period, its old secret) stops working."""

    id: str
    name: str
    team: str | None = None
    team_name: str | None = None
    limits: Limits = NO_LIMITS
    team_limits: Limits = NO_LIMITS
    expires_at: datetime | None = None
    # Its stored images (``app.images_index``): seconds they are kept (0: forever) and how
    # their URLs are minted; the key's, else its team's; None: the deployment's.
    retention: float | None = None
    url_mode: str | None = None


@dataclass(frozen=True, slots=True)
class Charge:
    """What admission took for a request, to give back when it ends (``app.access``):
    the budget hold and its worst-case amount, the budget left once it was held (the least
    over the key's and the team's), the concurrency counters it occupies, and the token of
    its slot in each (to give back exactly that slot)."""

    hold_id: str | None = None
    estimate_nanos: int = 0
    remaining_nanos: int | None = None
    concurrency: tuple[str, ...] = ()
    slot_holder: str | None = None


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
    cost_nanos: int | None = None  # USD 1e-9, as the carrier's answer prices it
    latency: float = 0.0
    stream: bool = False
    async_job: bool = False
    replay: bool = False
    client_gone: bool = False
    # For the ledger (``app.usage.ledger``): when the request began (Unix seconds), the team
    # of the key, the prompt, the whole usage object, and the images this request stored
    # (ids, format, bytes, dimensions; none for a replay).
    created_at: float = 0.0
    team: str | None = None
    prompt: str | None = None
    usage: dict[str, Any] | None = None
    stored: tuple[StoredImage, ...] = ()
    # The worst case admission reserved (nano-dollars), for the ledger; ``charge`` is the
    # reservation itself, settled from this record (``app.access.settlement``).
    estimated_cost_nanos: int | None = None
    charge: Charge | None = None  # what admission reserved: settled from this record
    attempt_seconds: tuple[float, ...] = ()
    adjustments: tuple[str, ...] = ()
    storage_errors: int = 0  # images answered as base64 because storing them failed
    retention: float | None = None  # the key's retention (seconds) for ``stored``; None: default
