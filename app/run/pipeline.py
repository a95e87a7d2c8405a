"""The use case: try routes in order, retry or fall back as routing decides, re-host the
images of the first success, price the result.

No FastAPI here: collaborators come in through the constructor, values go out as a
:class:`Generation` (or the routing module's final error).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime

from app.carriers.base import Carrier
from app.config.runtime import RetryConfig
from app.core import pricing, routing
from app.core.catalog import ModelSpec, Route
from app.core.failures import CarrierFailure
from app.domain import (
    CarrierResult,
    Generation,
    ImageJob,
    PartialImage,
    ResponseFormat,
    StoredImage,
    UpstreamImage,
)
from app.errors import GatewayError
from app.observability import tracing
from app.observability.redact import Redactor
from app.run.masking import mask_failure, mask_partial, mask_result
from app.run.rehost import NotAnImage, Rehoster
from app.state.base import CircuitBook

log = logging.getLogger(__name__)


@dataclass
class _Attempts:
    failures: list[tuple[str, CarrierFailure]] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    real: bool = False  # whether real (not offline) routes were among the candidates
    seconds: list[float] = field(default_factory=list)

    def failed(self, carrier: str, failure: CarrierFailure, seconds: float) -> None:
        self.failures.append((carrier, failure))
        self.labels.append(f"{carrier}:{failure.outcome}")
        self.seconds.append(seconds)


@dataclass
class Pipeline:
    carriers: Mapping[str, Carrier]
    rehoster: Rehoster
    health: CircuitBook
    retry: RetryConfig
    rng: random.Random = field(default_factory=random.Random)
    redactor: Redactor = field(default_factory=Redactor)  # masks carrier keys in carrier output
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    clock: Callable[[], float] = time.monotonic

    async def run(self, job: ImageJob, spec: ModelSpec, deadline: float) -> Generation:
        events = self._attempts(job, spec, self.clock() + deadline, streaming=False)
        async with aclosing(events):
            async for event in events:
                if isinstance(event, Generation):
                    return event
        raise AssertionError("the attempt loop ends with a generation or an error")

    def stream(self, job: ImageJob, spec: ModelSpec) -> AsyncIterator[PartialImage | Generation]:
        """Partial images as they come, then the finished generation (its image kept as base64
        for the completed event). Retries and falls back only before the first event; a carrier
        that cannot stream is run whole and yields just the finished generation."""
        return self._attempts(job, spec, math.inf, streaming=True)

    async def _attempts(
        self, job: ImageJob, spec: ModelSpec, ends: float, *, streaming: bool
    ) -> AsyncGenerator[PartialImage | Generation, None]:
        """The one attempt loop: routes in order, each retried as routing decides."""
        attempts = _Attempts()
        routes = self._routes(job, spec)
        # An offline route serving where real ones could have is a fallback: its answer says so.
        attempts.real = any(not route.offline for route in routes)
        for route in routes:
            retries = 0
            while await self.health.admit(route.carrier):
                emitted = False
                started = self.clock()
                generation: Generation | None = None
                try:
                    with tracing.span("imagegate.attempt") as span:
                        if span.is_recording():
                            _describe_attempt(span, route, retries)
                        async with aclosing(self._attempt(job, route, ends, streaming)) as events:
                            async for event in events:
                                if isinstance(event, PartialImage):
                                    emitted = True
                                    yield event
                                    continue
                                await self.health.succeeded(route.carrier)
                                attempts.labels.append(f"{route.carrier}:200")
                                attempts.seconds.append(self.clock() - started)
                                generation = self._finish(job, route, *event, attempts)
                                break
                    if generation is not None:
                        yield generation
                        return
                except CarrierFailure as failure:
                    failure = mask_failure(self.redactor, failure)
                    attempts.failed(route.carrier, failure, self.clock() - started)
                    decision = await self._failed(route, failure, retries, ends)
                    # Once the client has seen partial images, no other attempt may follow.
                    if emitted or decision.action == "stop":
                        raise await self._give_up(spec, attempts) from None
                    if decision.action == "next":
                        break
                    retries += 1
                    await self.sleep(decision.delay)
        raise await self._give_up(spec, attempts)

    async def _failed(
        self,
        route: Route,
        failure: CarrierFailure,
        retries: int,
        ends: float,
    ) -> routing.Decision:
        """Note a failed attempt in the circuit breaker and decide what comes next."""
        await self._record(route.carrier, failure)
        remaining = ends - self.clock()
        return routing.decide(failure, retries, route.retries, self.retry, remaining, self.rng)

    async def _attempt(
        self, job: ImageJob, route: Route, ends: float, streaming: bool
    ) -> AsyncGenerator[PartialImage | tuple[CarrierResult, tuple[StoredImage, ...]], None]:
        """One try on one route: partial images (streaming routes), then the kept result."""
        carrier = self.carriers[route.carrier]
        log.debug(
            "attempt on %s (model %s, %s, streaming %s)",
            route.carrier,
            route.upstream_model,
            job.operation,
            streaming and route.rules.stream,
        )
        if streaming and route.rules.stream:
            async for event in carrier.stream(job, route):
                if isinstance(event, PartialImage):
                    yield mask_partial(self.redactor, event)
                    continue
                event = mask_result(self.redactor, event)
                kept = await self._keep(job, event, keep_b64=True)
                yield _without_images(event), kept
                return
            raise CarrierFailure("transient", f"carrier '{route.carrier}' sent no image")
        remaining = ends - self.clock()
        if remaining <= 0:
            raise CarrierFailure("timeout", "the request's deadline passed")
        try:
            async with asyncio.timeout(min(remaining, route.timeout)):
                result = await carrier.run(job, route)
        except TimeoutError:
            raise CarrierFailure("timeout", f"carrier '{route.carrier}' timed out") from None
        # outside the timeout: it must not fire while the consumer works
        result = mask_result(self.redactor, result)
        kept = await self._keep(job, result, keep_b64=streaming)
        result = _without_images(result)
        yield result, kept

    def _routes(self, job: ImageJob, spec: ModelSpec) -> list[Route]:
        able = routing.candidates(job, spec, self.carriers)
        if len(able) == 1:  # the common case: no order to draw
            return able
        return routing.order(able, self.rng)

    async def _give_up(self, spec: ModelSpec, attempts: _Attempts) -> GatewayError:
        """The error once no route is left: all cooling down, or the most meaningful failure."""
        if not attempts.failures:
            return routing.all_cooling_down(spec, await self._soonest_recovery(spec))
        error = routing.final_error(attempts.failures)
        error.attempts = tuple(attempts.labels)
        error.attempt_seconds = tuple(attempts.seconds)
        return error

    async def _record(self, carrier: str, failure: CarrierFailure) -> None:
        long_wait = (
            failure.retry_after is not None and failure.retry_after > self.retry.max_retry_after
        )
        cool_for = failure.retry_after if long_wait else None
        await self.health.failed(carrier, failure.kind, failure.message, cool_for)
        log.warning("attempt on %s failed: %s (%s)", carrier, failure.message, failure.kind)

    async def _soonest_recovery(self, spec: ModelSpec) -> float | None:
        waits = [(await self.health.status(r.carrier)).cooling_for for r in spec.routes]
        soonest = min((w for w in waits if w is not None), default=None)
        return None if soonest is None else max(1.0, soonest)

    async def _keep(
        self, job: ImageJob, result: CarrierResult, *, keep_b64: bool
    ) -> tuple[StoredImage, ...]:
        with tracing.span("imagegate.store") as span:
            stored = await self._store(job, result, keep_b64=keep_b64)
            if span.is_recording():
                span.set_attribute("imagegate.image.count", len(stored))
                span.set_attribute("imagegate.image.bytes", sum(i.byte_size for i in stored))
            return stored

    async def _store(
        self, job: ImageJob, result: CarrierResult, *, keep_b64: bool
    ) -> tuple[StoredImage, ...]:
        keep = functools.partial(self.rehoster.keep, keep_b64=keep_b64)
        try:
            stored = await _each(keep, result.images, job.response_format)
        except NotAnImage as exc:
            raise CarrierFailure("transient", str(exc)) from None
        lost = [image.storage_error for image in stored if image.storage_error is not None]
        if lost:  # one line per request, no traceback: the client still gets its images
            log.error(
                "storage failed, %d image(s) answered as base64 and not stored: %s",
                len(lost),
                lost[0],
            )
        return stored

    def _finish(
        self,
        job: ImageJob,
        route: Route,
        result: CarrierResult,
        stored: tuple[StoredImage, ...],
        attempts: _Attempts,
    ) -> Generation:
        quality = result.quality or job.quality
        return Generation(
            operation=job.operation,
            model=job.model,
            response_format=job.response_format,
            carrier=route.carrier,
            images=stored,
            created=int(time.time()),
            usage=result.usage,
            cost_nanos=_cost(job, route, result, len(stored), quality),
            size=result.size or job.size,
            quality=quality,
            background=result.background or job.background,
            output_format=result.output_format or stored[0].format,
            adjustments=job.adjustments,
            attempts=tuple(attempts.labels),
            offline_fallback=route.offline and attempts.real,
            attempt_seconds=tuple(attempts.seconds),
        )


def _cost(
    job: ImageJob, route: Route, result: CarrierResult, images: int, quality: str | None
) -> int | None:
    """The exact cost at the price in effect today (UTC)."""
    price = pricing.price_at(route.prices, datetime.now(UTC).date())
    inputs = sum(image.width * image.height for image in job.images)
    size = result.size or job.size
    return pricing.cost(
        price, result.usage, images=images, size=size, quality=quality, input_pixels=inputs
    )


async def _each(
    keep: Callable[[UpstreamImage, ResponseFormat], Awaitable[StoredImage]],
    images: tuple[UpstreamImage, ...],
    response_format: ResponseFormat,
) -> tuple[StoredImage, ...]:
    """Keep every image; one image (the common case) needs no task for concurrency."""
    if len(images) == 1:
        return (await keep(images[0], response_format),)
    return tuple(await asyncio.gather(*(keep(image, response_format) for image in images)))


def _without_images(result: CarrierResult) -> CarrierResult:
    """The result once its images are kept: the carrier's base64 (a view of the whole upstream
    body, several MB) is let go now rather than when the request ends. Built directly: a
    quarter of what ``dataclasses.replace`` costs (a test checks no field is forgotten)."""
    return CarrierResult(
        (), result.usage, result.size, result.quality, result.background, result.output_format
    )


def _describe_attempt(span: tracing.SpanLike, route: Route, retries: int) -> None:
    span.set_attribute("gen_ai.provider.name", route.carrier)
    span.set_attribute("gen_ai.request.model", route.upstream_model)
    span.set_attribute("imagegate.attempt.retry", retries)
