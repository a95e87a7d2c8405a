"""The carrier interface: one small Protocol, and the mapping of transport exceptions to a
failure kind (the status-code table is pure and lives in ``app.core.failures``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol

import httpx

from app.config.schema import CarrierConfig
from app.core.failures import FailureKind
from app.domain import CarrierResult, ImageJob, PartialImage


def classify_exception(exc: httpx.HTTPError) -> FailureKind:
    return "timeout" if isinstance(exc, httpx.TimeoutException) else "transient"


@dataclass(frozen=True, slots=True)
class CarrierTools:
    """What a carrier gets from the gateway: the one shared HTTP client."""

    http: httpx.AsyncClient


class Carrier(Protocol):
    """Produces images for a job from one upstream."""

    name: str

    async def run(self, job: ImageJob, upstream_model: str) -> CarrierResult:
        """Generate or edit (``job.operation``); raise :class:`CarrierFailure` on failure."""
        ...

    def stream(
        self, job: ImageJob, upstream_model: str
    ) -> AsyncIterator[PartialImage | CarrierResult]:
        """Partial images as they form, then exactly one result (the completed image)."""
        ...


CarrierFactory = Callable[[CarrierConfig, CarrierTools], Carrier]
