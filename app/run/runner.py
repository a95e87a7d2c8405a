"""Running a request so that nothing paid for is lost: detached from the client's connection,
de-duplicated by idempotency key (one upstream call per key, in every response mode), and
metered: each request ends in exactly one usage record, whether it succeeds, fails, is replayed
or outlives its client.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from app.core.catalog import ModelSpec
from app.domain import Generation, ImageJob, PartialImage, Principal
from app.errors import GatewayError, UpstreamTimeout
from app.inputs.images import encode_b64
from app.run.pipeline import Pipeline
from app.run.shutdown import Stopping
from app.run.tasks import TaskRegistry
from app.state.base import IdempotencyStore, RequestKey
from app.state.idempotency import fingerprint
from app.storage import Storage
from app.usage.meter import Meter

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Replayed:
    """A stream's answer taken from an earlier request with the same Idempotency-Key."""

    generation: Generation


# What a stream's queue carries: events (or one replay), then None; an error ends it early.
StreamItem = PartialImage | Generation | Replayed | GatewayError | None
Cleanup = Callable[[], None]


class Once:
    """A cleanup that runs at most once, and remembers whether the work took it over."""

    def __init__(self, cleanup: Cleanup | None) -> None:
        self._cleanup = cleanup
        self.handed_over = False

    def hand_over(self) -> Once:
        self.handed_over = True
        return self

    def __call__(self) -> None:
        cleanup, self._cleanup = self._cleanup, None
        if cleanup is not None:
            cleanup()


async def request_key(principal: Principal, key: str | None, job: ImageJob) -> RequestKey | None:
    """The principal-scoped key and the request's fingerprint (input bytes read off-loop)."""
    if key is None:
        return None
    if job.images or job.mask is not None:
        digest = await asyncio.to_thread(fingerprint, job)
    else:
        digest = fingerprint(job)  # a few hundred bytes of parameters: no thread needed
    return RequestKey(f"{principal.id}:{key}", digest)


class Executor:
    def __init__(
        self,
        pipeline: Pipeline,
        tasks: TaskRegistry,
        idempotency: IdempotencyStore,
        storage: Storage,
        stopping: Stopping | None = None,
    ) -> None:
        self._pipeline = pipeline
        self._tasks = tasks
        self._idempotency = idempotency
        self._storage = storage
        self._stopping = stopping or Stopping(math.inf)

    async def run(
        self,
        job: ImageJob,
        spec: ModelSpec,
        meter: Meter,
        *,
        deadline: float,
        key: RequestKey | None = None,
        cleanup: Cleanup | None = None,
        on_connection: bool = True,
    ) -> tuple[Generation, bool]:
        """The generation, and whether it is the replay of an earlier identical request.

        The work runs as a tracked task: if the client goes away, it still finishes, stores
        its images and records its usage, and an idempotent retry picks the result up. A
        client ``on_connection`` gets 503 ``shutting_down`` once a stopping gateway's grace
        period ends (an async job, on no connection, waits for the drain instead).
        """
        try:
            earlier = await self._claim(key)
        except BaseException as error:  # a conflict, or the client left while waiting
            if cleanup is not None:
                cleanup()
            if isinstance(error, asyncio.CancelledError):
                meter.refused(error)  # unless an async job's work owns the outcome
            else:
                meter.failed(error)
            raise
        if earlier is not None:
            if cleanup is not None:
                cleanup()
            return await self._replay(earlier, meter, job.response_format != "url"), True
        meter.detach()
        work = self._run_detached(job, spec, meter, deadline, key, cleanup)
        task = self._tasks.spawn(work, name=f"generation:{spec.name}")
        try:  # a stopping gateway answers 503 after its grace period; the work goes on
            if on_connection:
                return await self._stopping.result(task), False
            return await asyncio.shield(task), False
        except asyncio.CancelledError:
            meter.client_left()
            raise

    def stream(
        self,
        job: ImageJob,
        spec: ModelSpec,
        meter: Meter,
        *,
        deadline: float,
        key: RequestKey | None = None,
        cleanup: Cleanup | None = None,
    ) -> asyncio.Queue[StreamItem]:
        """Start a streaming request; its events arrive on the returned queue, ``None`` last.

        The producer is a tracked task: a client that leaves mid-stream does not stop it, so
        the upstream is drained, the final image stored and the usage recorded. A repeated
        Idempotency-Key gets the finished image (one :class:`Replayed`) instead of a new call.
        """
        queue: asyncio.Queue[StreamItem] = asyncio.Queue()  # at most 3 partials + 1 result
        meter.detach()
        self._stopping.watch(queue)
        work = self._produce(job, spec, meter, deadline, key, queue, cleanup)
        self._tasks.spawn(work, name=f"stream:{spec.name}")
        return queue

    async def _claim(self, key: RequestKey | None) -> Generation | None:
        """The earlier answer for ``key``, or None once this request owns it (or has none)."""
        return None if key is None else await self._idempotency.begin(key.key, key.fingerprint)

    async def _replay(self, earlier: Generation, meter: Meter, with_b64: bool) -> Generation:
        generation = await self._reload_b64(earlier) if with_b64 else earlier
        meter.succeeded(generation, replay=True)
        return generation

    async def _run_detached(
        self,
        job: ImageJob,
        spec: ModelSpec,
        meter: Meter,
        deadline: float,
        key: RequestKey | None,
        cleanup: Cleanup | None,
    ) -> Generation:
        try:
            generation = await self._pipeline.run(job, spec, deadline)
        except BaseException as error:
            await self._settle(key, None)
            meter.failed(error)
            raise
        finally:
            if cleanup is not None:
                cleanup()
        await self._settle(key, generation)
        meter.succeeded(generation)
        return generation

    async def _produce(
        self,
        job: ImageJob,
        spec: ModelSpec,
        meter: Meter,
        deadline: float,
        key: RequestKey | None,
        queue: asyncio.Queue[StreamItem],
        cleanup: Cleanup | None,
    ) -> None:
        owned: RequestKey | None = None
        try:
            earlier = await self._claim(key)
            if earlier is not None:
                queue.put_nowait(Replayed(await self._replay(earlier, meter, with_b64=True)))
                return
            owned = key
            async with asyncio.timeout(deadline):
                async for event in self._pipeline.stream(job, spec):
                    if isinstance(event, Generation):
                        await self._settle(owned, event)
                        owned = None
                        meter.succeeded(event)
                    queue.put_nowait(event)
        except asyncio.CancelledError as cancelled:  # shutdown
            meter.failed(cancelled)
            raise
        except Exception as exc:
            error = _as_gateway_error(exc)
            meter.failed(error)
            queue.put_nowait(error)
        finally:
            self._stopping.unwatch(queue)
            await self._settle(owned, None)
            queue.put_nowait(None)
            if cleanup is not None:
                cleanup()

    async def _settle(self, key: RequestKey | None, answer: Generation | None) -> None:
        """Keep the answer for ``key``, or free the key after a failure."""
        if key is None:
            return
        if answer is None:
            await self._idempotency.abandon(key.key)
        else:
            await self._idempotency.finish(key.key, answer)

    async def _reload_b64(self, generation: Generation) -> Generation:
        """Base64 for a replay: the idempotency cache keeps stored images by reference only."""
        images = []
        for image in generation.images:
            if image.b64 is None and image.ref is not None:
                data = await self._storage.read(image.ref)
                image = replace(image, b64=await asyncio.to_thread(encode_b64, data))
            images.append(image)
        return replace(generation, images=tuple(images))


def _as_gateway_error(exc: Exception) -> GatewayError:
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, TimeoutError):
        return UpstreamTimeout("The request's deadline passed before the image was done.")
    log.exception("streaming request failed", exc_info=exc)
    return GatewayError("The gateway hit an internal error.")
