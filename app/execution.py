"""Running a job so that nothing paid for is lost: detached from the client's connection,
de-duplicated by idempotency key, logged with its request id when it ends."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from app.catalog import ModelSpec
from app.context import request_id_var
from app.domain import Caller, Generation, ImageJob
from app.idempotency import IdempotencyStore, fingerprint
from app.images import encode_b64
from app.pipeline import Pipeline
from app.storage import Storage
from app.tasks import TaskRegistry

log = logging.getLogger(__name__)


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
        caller: Caller,
        idempotency_key: str | None,
    ) -> tuple[Generation, bool]:
        """The generation, and whether it is the replay of an earlier identical request.

        The work runs as a tracked task: if the client goes away, it still finishes, stores
        its images and logs them, and an idempotent retry picks the result up.
        """

        def start() -> asyncio.Task[Generation]:
            return self._tasks.spawn(self._logged(job, spec, deadline), name=f"job:{spec.name}")

        if idempotency_key is None:
            return await asyncio.shield(start()), False
        key = f"{caller.id}:{idempotency_key}"
        generation, replayed = await self._idempotency.run(key, fingerprint(job), start)
        if replayed and job.response_format != "url":
            generation = await asyncio.to_thread(self._reload_b64, generation)
        return generation, replayed

    async def _logged(self, job: ImageJob, spec: ModelSpec, deadline: float) -> Generation:
        generation = await self._pipeline.run(job, spec, deadline)
        ids = ",".join(image.filename for image in generation.images if image.id is not None)
        log.info(
            "generated request=%s model=%s carrier=%s attempts=%s images=%s",
            request_id_var.get(), spec.name, generation.carrier, ",".join(generation.attempts),
            ids or "(not stored)",
        )  # fmt: skip
        return generation

    def _reload_b64(self, generation: Generation) -> Generation:
        images = []
        for image in generation.images:
            path = self._storage.locate(image.id, image.format) if image.id else None
            if image.b64 is None and path is not None:
                image = replace(image, b64=encode_b64(path.read_bytes()))
            images.append(image)
        return replace(generation, images=tuple(images))
