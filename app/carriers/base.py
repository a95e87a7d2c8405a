"""The carrier interface: one small Protocol, and the mapping of transport exceptions to a
failure kind (the status-code table is pure and lives in ``app.core.failures``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import httpx

from app.core.catalog import Route
from app.core.failures import FailureKind
from app.domain import CarrierResult, ImageJob, PartialImage
from app.inputs.decoding import Decoder

# What a decoder defaults to outside ``app.wiring`` (which sizes it from the config).
_DEFAULT_PIXELS = 50_000_000


def classify_exception(exc: httpx.HTTPError) -> FailureKind:
    return "timeout" if isinstance(exc, httpx.TimeoutException) else "transient"


ProbeState = Literal["ok", "key_rejected", "failed"]


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What a cheap check of a carrier's key and reachability found (``check-carriers``)."""

    state: ProbeState
    detail: str


async def nothing_to_probe(config: Any, http: httpx.AsyncClient, seconds: float) -> ProbeResult:
    """The probe of a kind with no upstream and no key: always fine."""
    return ProbeResult("ok", "no upstream and no key to check")


@dataclass(frozen=True, slots=True)
class CarrierTools:
    """What a carrier gets from the gateway: the one shared HTTP client, and the one decoder
    (pixel cap and process-wide decode budget) every decode of an image goes through."""

    http: httpx.AsyncClient
    decoder: Decoder = field(default_factory=lambda: Decoder(_DEFAULT_PIXELS, _DEFAULT_PIXELS))


class Carrier(Protocol):
    """Produces images for a job from one upstream.

    ``route`` says how this model is served here: the upstream model name and the effective
    rules (``route.rules``), which the carrier applies as data, never by the model's name."""

    name: str

    async def run(self, job: ImageJob, route: Route) -> CarrierResult:
        """Generate or edit (``job.operation``); raise :class:`CarrierFailure` on failure."""
        ...

    def stream(self, job: ImageJob, route: Route) -> AsyncIterator[PartialImage | CarrierResult]:
        """Partial images as they form, then exactly one result (the completed image)."""
        ...
