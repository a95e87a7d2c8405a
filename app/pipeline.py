"""The use case: route a normalized job to a carrier, re-host its images, price the result.

No FastAPI here: collaborators come in through the constructor, values go out as a
:class:`Generation`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping

from app import pricing, routing
from app.carriers.base import Carrier, CarrierFailure
from app.catalog import ModelSpec, Route
from app.domain import CarrierResult, Generation, ImageJob, StoredImage
from app.errors import StorageFailed
from app.rehost import NotAnImage, Rehoster

log = logging.getLogger(__name__)


class Pipeline:
    def __init__(self, carriers: Mapping[str, Carrier], rehoster: Rehoster) -> None:
        self.carriers = carriers
        self._rehoster = rehoster

    async def run(self, job: ImageJob, spec: ModelSpec) -> Generation:
        failures: list[tuple[str, CarrierFailure]] = []
        for route in routing.plan(spec, self.carriers):
            try:
                result = await self.carriers[route.carrier].run(job, route.upstream_model)
                stored = await self._keep(job, result)
            except CarrierFailure as failure:
                failures.append((route.carrier, failure))
                if failure.kind == "rejected":
                    break
                continue
            return self._finish(job, route, result, stored, failures)
        raise routing.final_error(failures)

    async def _keep(self, job: ImageJob, result: CarrierResult) -> tuple[StoredImage, ...]:
        keep = self._rehoster.keep
        try:
            return tuple(
                await asyncio.gather(*(keep(img, job.response_format) for img in result.images))
            )
        except NotAnImage as exc:
            raise CarrierFailure("transient", str(exc)) from None
        except StorageFailed:
            if job.response_format != "url":
                raise
            log.exception("storage failed; answering with base64 so the images are not lost")
            return tuple(
                await asyncio.gather(*(keep(img, "b64_ephemeral") for img in result.images))
            )

    def _finish(
        self,
        job: ImageJob,
        route: Route,
        result: CarrierResult,
        stored: tuple[StoredImage, ...],
        failures: list[tuple[str, CarrierFailure]],
    ) -> Generation:
        attempts = (*(f"{c}:{f.outcome}" for c, f in failures), f"{route.carrier}:200")
        return Generation(
            job=job,
            carrier=route.carrier,
            images=stored,
            created=int(time.time()),
            usage=result.usage,
            cost=pricing.cost(
                route.price, result.usage, len(stored), result.quality or job.quality
            ),
            size=result.size or job.size,
            quality=result.quality or job.quality,
            background=result.background or job.background,
            output_format=result.output_format or stored[0].format,
            attempts=attempts,
        )
