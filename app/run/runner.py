"""Running a job so that nothing paid for is lost: detached from the client's connection,
de-duplicated by idempotency key, logged with its request id when it ends."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace

from app.core.catalog import ModelSpec
from app.domain import Generation, ImageJob, PartialImage, Principal
from app.errors import GatewayError, UpstreamTimeout
from app.inputs.images import encode_b64
from app.observability.logs import request_id_var
from app.run.pipeline import Pipeline
from app.run.tasks import TaskRegistry
from app.state.idempotency import IdempotencyStore, fingerprint
from app.storage import Storage

log = logging.getLogger(__name__)

# What a stream's queue carries: events, then None; an error ends it early (then None).
StreamItem = PartialImage | Generation | GatewayError | None
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


class Executor:
    def __init__(
        self,
        pipeline: Pipeline,
        tasks: TaskRegistry,
        idempotency: IdempotencyStore,
        storage: Storage,
    ) -> None:
        self._pipeline = pipeline
        self._tasks = tasks
        self._idempotency = idempotency
        self._storage = storage

    async def run(
        self,
        job: ImageJob,
        spec: ModelSpec,
        *,
        deadline: float,
        principal: Principal,
        idempotency_key: str | None,
        cleanup: Cleanup | None = None,
    ) -> tuple[Generation, bool]:
        """The generation, and whether it is the replay of an earlier identical request.

        The work runs as a tracked task: if the client goes away, it still finishes, stores
        its images and logs them, and an idempotent retry picks the result up.
        """

        started = False

        def start() -> asyncio.Task[Generation]:
            nonlocal started
            started = True
            work = self._logged(job, spec, deadline, cleanup)
            return self._tasks.spawn(work, name=f"job:{spec.name}")

        try:
            if idempotency_key is None:
                return await asyncio.shield(start()), False
            key = f"{principal.id}:{idempotency_key}"
            digest = await asyncio.to_thread(fingerprint, job)
            generation, replayed = await self._idempotency.run(key, digest, start)
        finally:
            if not started and cleanup is not None:  # a replay, a wait, or a 409
                cleanup()
        if replayed and job.response_format != "url":
            generation = await self._reload_b64(generation)
        return generation, replayed

    def stream(
        self, job: ImageJob, spec: ModelSpec, deadline: float, cleanup: Cleanup | None = None
    ) -> asyncio.Queue[StreamItem]:
        """Start a streaming job; its events arrive on the returned queue, ``None`` last.

        The producer is a tracked task: a client that leaves mid-stream does not stop it, so
        the upstream is drained, the final image stored and the request logged.
        """
        queue: asyncio.Queue[StreamItem] = asyncio.Queue()  # at most 3 partials + 1 result
        work = self._produce(job, spec, deadline, queue, cleanup)
        self._tasks.spawn(work, name=f"stream:{spec.name}")
        return queue

    async def _produce(
        self,
        job: ImageJob,
        spec: ModelSpec,
        deadline: float,
        queue: asyncio.Queue[StreamItem],
        cleanup: Cleanup | None,
    ) -> None:
        try:
            async with asyncio.timeout(deadline):
                async for event in self._pipeline.stream(job, spec):
                    if isinstance(event, Generation):
                        _log_generated(spec, event)
                    queue.put_nowait(event)
        except GatewayError as error:
            queue.put_nowait(error)
        except TimeoutError:
            queue.put_nowait(
                UpstreamTimeout("The request's deadline passed before the image was done.")
            )
        except Exception:
            log.exception("streaming job failed")
            queue.put_nowait(GatewayError("The gateway hit an internal error."))
        finally:
            queue.put_nowait(None)
            if cleanup is not None:
                cleanup()

    async def _logged(
        self, job: ImageJob, spec: ModelSpec, deadline: float, cleanup: Cleanup | None
    ) -> Generation:
        try:
            generation = await self._pipeline.run(job, spec, deadline)
        finally:
            if cleanup is not None:
                cleanup()
        _log_generated(spec, generation)
        return generation

    async def _reload_b64(self, generation: Generation) -> Generation:
        """Base64 for a replay: the idempotency cache keeps stored images by reference only."""
        images = []
        for image in generation.images:
            if image.b64 is None and image.ref is not None:
                data = await self._storage.read(image.ref)
                image = replace(image, b64=await asyncio.to_thread(encode_b64, data))
            images.append(image)
        return replace(generation, images=tuple(images))


def _log_generated(spec: ModelSpec, generation: Generation) -> None:
    ids = ",".join(image.filename for image in generation.images if image.id is not None)
    log.info(
        "generated request=%s model=%s carrier=%s attempts=%s images=%s",
        request_id_var.get(), spec.name, generation.carrier, ",".join(generation.attempts),
        ids or "(not stored)",
    )  # fmt: skip
