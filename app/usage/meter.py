"""The usage of one request: measured from its start, recorded exactly once when it ends.

Whoever finishes the request (the detached work, a replay, or the edge when the request is
refused before any work starts) tells the meter; the first report builds the request's one
:class:`UsageRecord` and later reports are ignored. A client that leaves before its answer is
ready is noted, and the record still waits for the work to end.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from typing import Any

from app.domain import (
    Charge,
    Generation,
    Operation,
    Outcome,
    Principal,
    StoredImage,
    UsageRecord,
)
from app.errors import GatewayError
from app.observability import tracing
from app.observability.logs import request_id_var
from app.usage.recorder import Recorder

CLIENT_GONE = "client_gone"


class Meter:
    def __init__(
        self,
        recorder: Recorder,
        principal: Principal,
        model: str,
        operation: Operation,
        *,
        stream: bool = False,
        async_job: bool = False,
        prompt: str | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._recorder = recorder
        self._principal = principal
        self._model = model
        self._operation: Operation = operation
        self._stream = stream
        self._async_job = async_job
        self._clock = clock
        self._started = clock()
        self._created_at = time.time()
        self._prompt = prompt
        self._request_id = request_id_var.get()
        self._detached = False
        self.client_gone = False
        self.charge: Charge | None = None  # what admission took: the record hands it back
        self.record: UsageRecord | None = None

    def detach(self) -> None:
        """Detached work now owns the outcome: the edge no longer reports refusals."""
        self._detached = True

    def client_left(self) -> None:
        self.client_gone = True

    def succeeded(self, generation: Generation, *, replay: bool = False) -> None:
        if self.record is not None:
            return
        images = generation.images
        usage = generation.usage or {}
        record = self._build(
            "succeeded",
            carrier=generation.carrier,
            attempts=() if replay else generation.attempts,
            attempt_seconds=() if replay else generation.attempt_seconds,
            adjustments=generation.adjustments,
            storage_errors=_unstored(generation),
            images=len(images),
            pixels=_pixels(generation.size, len(images)),
            output_bytes=sum(image.byte_size for image in images),
            size=generation.size,
            quality=generation.quality,
            output_format=generation.output_format,
            input_tokens=None if replay else _int(usage.get("input_tokens")),
            output_tokens=None if replay else _int(usage.get("output_tokens")),
            cost_nanos=0 if replay else generation.cost_nanos,
            replay=replay,
            usage=None if replay else generation.usage,
            stored=() if replay else _stored(images),
        )
        self._emit(record)

    def accepted_again(self) -> None:
        """A repeated async request: answered with the job its first copy made."""
        if self.record is not None:
            return
        self._emit(self._build("succeeded", replay=True))

    def failed(self, error: BaseException) -> None:
        if self.record is not None:
            return
        if isinstance(error, asyncio.CancelledError):  # the client left, or a shutdown
            code: str | None = CLIENT_GONE if self.client_gone else "cancelled"
        elif isinstance(error, GatewayError):
            code = error.code
        else:
            code = "internal_error"
        attempts = error.attempts if isinstance(error, GatewayError) else ()
        seconds = error.attempt_seconds if isinstance(error, GatewayError) else ()
        stored = int(code == "storage_failed")
        self._emit(
            self._build(
                "failed",
                error_code=code,
                attempts=attempts,
                attempt_seconds=seconds,
                storage_errors=stored,
            )
        )

    def refused(self, error: BaseException) -> None:
        """The edge's report: counts only when no detached work owns the outcome."""
        if isinstance(error, asyncio.CancelledError):
            self.client_left()
        if not self._detached:
            self.failed(error)

    def _build(self, outcome: Outcome, **measured: Any) -> UsageRecord:
        """The record: what the meter knows since the start, plus what the end measured."""
        return UsageRecord(
            request_id=self._request_id,
            principal_id=self._principal.id,
            principal_name=self._principal.name,
            team=self._principal.team,
            model=self._model,
            operation=self._operation,
            outcome=outcome,
            latency=self._clock() - self._started,
            stream=self._stream,
            async_job=self._async_job,
            client_gone=self.client_gone,
            created_at=self._created_at,
            prompt=self._prompt,
            estimated_cost_nanos=self.charge.estimate_nanos if self.charge else None,
            charge=self.charge,
            retention=self._principal.retention,
            **measured,
        )

    def _emit(self, record: UsageRecord) -> None:
        self.record = record
        with tracing.span("imagegate.record") as span:
            if span.is_recording():
                span.set_attribute("imagegate.outcome", record.outcome)
                span.set_attribute("gen_ai.usage.image_count", record.images)
                span.set_attribute("imagegate.image.bytes", record.output_bytes)
                if record.cost_nanos is not None:
                    span.set_attribute("imagegate.cost_usd", record.cost_nanos / 1e9)
            self._recorder.record(record)


def _stored(images: tuple[StoredImage, ...]) -> tuple[StoredImage, ...]:
    """The stored images, as the record's sinks need them: without their base64. The ledger
    holds records until its next batch; with the text (4 MB for a 3 MB image) every buffered
    record would keep its client's answer alive too."""
    return tuple(
        image if image.b64 is None else dataclasses.replace(image, b64=None)
        for image in images
        if image.ref is not None
    )


def _pixels(size: str | None, count: int) -> int | None:
    width, _, height = (size or "").partition("x")
    if not (width.isdigit() and height.isdigit()):
        return None
    return int(width) * int(height) * count


def _unstored(generation: Generation) -> int:
    """Images that should have been stored (a URL was asked for) but went out as base64."""
    if generation.response_format != "url":
        return 0
    return sum(1 for image in generation.images if image.ref is None)


def _int(value: object) -> int | None:
    return value if isinstance(value, int) else None
