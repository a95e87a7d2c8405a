"""The use case: try routes in order, retry or fall back as routing decides, re-host the
images of the first success, price the result.

No FastAPI here: collaborators come in through the constructor, values go out as a
:class:`Generation` (or the routing module's final error).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace

from app.carriers.base import Carrier
from app.config.rules import EditSupport
from app.config.schema import RetryConfig
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
from app.errors import GatewayError, StorageFailed
from app.run.rehost import NotAnImage, Rehoster
from app.state.base import CircuitBook

log = logging.getLogger(__name__)


@dataclass
class _Attempts:
    failures: list[tuple[str, CarrierFailure]] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)

    def failed(self, carrier: str, failure: CarrierFailure) -> None:
        self.failures.append((carrier, failure))
        self.labels.append(f"{carrier}:{failure.outcome}")


@dataclass
class Pipeline:
    carriers: Mapping[str, Carrier]
    rehoster: Rehoster
    health: CircuitBook
    retry: RetryConfig
    retries: Mapping[str, int]
    timeouts: Mapping[str, float]
    edit_support: Mapping[str, EditSupport] = field(default_factory=dict)
    rng: random.Random = field(default_factory=random.Random)
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    clock: Callable[[], float] = time.monotonic

    async def run(self, job: ImageJob, spec: ModelSpec, deadline: float) -> Generation:
        ends = self.clock() + deadline
        attempts = _Attempts()
        for route in self._routes(job, spec):
            if not await self.health.admit(route.carrier):
                continue
            outcome = await self._try_route(job, route, ends, attempts)
            if isinstance(outcome, Generation):
                return outcome
            if outcome == "stop":
                break
        raise await self._give_up(spec, attempts)

    async def stream(
        self, job: ImageJob, spec: ModelSpec
    ) -> AsyncIterator[PartialImage | Generation]:
        """Partial images as they come, then the finished generation (its image kept as base64
        for the completed event). Falls back to the next carrier only before the first event;
        a carrier that cannot stream is run whole and yields just the finished generation."""
        attempts = _Attempts()
        for route in self._routes(job, spec):
            if not await self.health.admit(route.carrier):
                continue
            emitted = False
            try:
                async for event in self._route_events(job, route):
                    if isinstance(event, PartialImage):
                        emitted = True
                        yield event
                        continue
                    # The completed event carries base64 even when the client wants a URL.
                    as_b64 = "b64_json" if job.response_format == "url" else job.response_format
                    stored = await self._keep(replace(job, response_format=as_b64), event)
                    await self.health.succeeded(route.carrier)
                    attempts.labels.append(f"{route.carrier}:200")
                    yield self._finish(job, route, event, stored, attempts)
                    return
            except CarrierFailure as failure:
                attempts.failed(route.carrier, failure)
                await self._record(route.carrier, failure)
                if emitted or failure.kind == "rejected":
                    break
        raise await self._give_up(spec, attempts)

    async def _route_events(
        self, job: ImageJob, route: Route
    ) -> AsyncIterator[PartialImage | CarrierResult]:
        carrier = self.carriers[route.carrier]
        routed = job if route.rules is job.rules else replace(job, rules=route.rules)
        if route.rules.stream:
            async for event in carrier.stream(routed, route.upstream_model):
                yield event
            return
        whole = replace(routed, stream=False, partial_images=None)
        try:
            async with asyncio.timeout(self.timeouts[route.carrier]):
                result = await carrier.run(whole, route.upstream_model)
        except TimeoutError:
            raise CarrierFailure("timeout", f"carrier '{route.carrier}' timed out") from None
        yield result  # outside the timeout: it must not fire while the consumer works

    async def _try_route(
        self, job: ImageJob, route: Route, ends: float, attempts: _Attempts
    ) -> Generation | str:
        carrier = self.carriers[route.carrier]
        routed = job if route.rules is job.rules else replace(job, rules=route.rules)
        retries = 0
        while True:
            remaining = ends - self.clock()
            try:
                if remaining <= 0:
                    raise CarrierFailure("timeout", "the request's deadline passed")
                async with asyncio.timeout(min(remaining, self.timeouts[route.carrier])):
                    result = await carrier.run(routed, route.upstream_model)
                stored = await self._keep(job, result)
            except TimeoutError:
                failure = CarrierFailure("timeout", f"carrier '{route.carrier}' timed out")
            except CarrierFailure as exc:
                failure = exc
            else:
                await self.health.succeeded(route.carrier)
                attempts.labels.append(f"{route.carrier}:200")
                return self._finish(job, route, result, stored, attempts)
            attempts.failed(route.carrier, failure)
            await self._record(route.carrier, failure)
            decision = routing.decide(
                failure, retries, self.retries[route.carrier], self.retry,
                ends - self.clock(), self.rng,
            )  # fmt: skip
            if decision.action != "retry" or not await self.health.admit(route.carrier):
                return "next" if decision.action == "retry" else decision.action
            retries += 1
            await self.sleep(decision.delay)

    def _routes(self, job: ImageJob, spec: ModelSpec) -> list[Route]:
        able = routing.candidates(job, spec, self.carriers, self.edit_support)
        return routing.order(able, self.rng)

    async def _give_up(self, spec: ModelSpec, attempts: _Attempts) -> GatewayError:
        """The error once no route is left: all cooling down, or the most meaningful failure."""
        if not attempts.failures:
            return routing.all_cooling_down(spec, await self._soonest_recovery(spec))
        error = routing.final_error(attempts.failures)
        error.attempts = tuple(attempts.labels)
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

    async def _keep(self, job: ImageJob, result: CarrierResult) -> tuple[StoredImage, ...]:
        keep = self.rehoster.keep
        try:
            return await _each(keep, result.images, job.response_format)
        except NotAnImage as exc:
            raise CarrierFailure("transient", str(exc)) from None
        except StorageFailed:
            if job.response_format != "url":
                raise
            log.exception("storage failed; answering with base64 so the images are not lost")
            return await _each(keep, result.images, "b64_ephemeral")

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
            cost=pricing.cost(route.price, result.usage, len(stored), quality),
            size=result.size or job.size,
            quality=quality,
            background=result.background or job.background,
            output_format=result.output_format or stored[0].format,
            adjustments=job.adjustments,
            attempts=tuple(attempts.labels),
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
