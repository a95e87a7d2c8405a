"""The record stage's fan-out and the per-request meter."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

import pytest

from app.domain import Generation, Principal, StoredImage, StoredRef, UsageRecord
from app.errors import UpstreamFailed
from app.usage.meter import Meter
from app.usage.recorder import Recorder

PRINCIPAL = Principal("key_1", "ci", "team-a")


class Collect:
    def __init__(self) -> None:
        self.records: list[UsageRecord] = []

    def write(self, record: UsageRecord) -> None:
        self.records.append(record)


class Broken:
    def write(self, record: UsageRecord) -> None:
        raise RuntimeError("ledger down")


def generation(**fields: object) -> Generation:
    image = StoredImage("png", 1234, ref=StoredRef("img_1", "png", 1234))
    return Generation(
        operation="generate",
        model="m",
        response_format="url",
        carrier="up",
        images=(image, image),
        created=1,
        usage={"input_tokens": 5, "output_tokens": 50},
        cost_nanos=250_000_000,
        size="1024x1536",
        quality="high",
        output_format="png",
        attempts=("up:500", "up:200"),
        **fields,  # type: ignore[arg-type]
    )


def meter(recorder: Recorder, **flags: Any) -> Meter:
    ticks = iter([10.0, 12.5])
    return Meter(recorder, PRINCIPAL, "m", "generate", clock=lambda: next(ticks), **flags)


def test_a_failing_sink_neither_raises_nor_starves_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    before, after = Collect(), Collect()
    recorder = Recorder([before, Broken(), after])
    meter(recorder).succeeded(generation())
    assert len(before.records) == 1 and len(after.records) == 1
    assert "usage sink Broken failed" in caplog.text


def test_a_success_is_measured_from_the_generation() -> None:
    sink = Collect()
    meter(Recorder([sink]), stream=True).succeeded(generation())
    (record,) = sink.records
    assert record.principal_id == "key_1" and record.principal_name == "ci"
    assert (record.outcome, record.carrier, record.attempts) == (
        "succeeded",
        "up",
        ("up:500", "up:200"),
    )
    assert record.images == 2 and record.output_bytes == 2468
    assert record.pixels == 2 * 1024 * 1536
    assert (record.input_tokens, record.output_tokens, record.cost_nanos) == (5, 50, 250_000_000)
    assert record.latency == 2.5 and record.stream and not record.async_job


def test_only_the_first_report_counts() -> None:
    sink = Collect()
    metered = meter(Recorder([sink]))
    metered.failed(UpstreamFailed("boom"))
    metered.succeeded(generation())
    metered.refused(RuntimeError("late"))
    assert [(r.outcome, r.error_code) for r in sink.records] == [("failed", "upstream_error")]


def test_the_edge_does_not_report_once_detached_work_owns_the_outcome() -> None:
    sink = Collect()
    metered = meter(Recorder([sink]))
    metered.detach()
    metered.refused(asyncio.CancelledError())  # the client left; the work goes on
    assert sink.records == []
    metered.succeeded(generation())
    assert [(r.outcome, r.client_gone) for r in sink.records] == [("succeeded", True)]


def test_a_client_gone_before_work_started_is_a_failure_with_that_code() -> None:
    sink = Collect()
    meter(Recorder([sink])).refused(asyncio.CancelledError())
    assert [(r.outcome, r.error_code, r.client_gone) for r in sink.records] == [
        ("failed", "client_gone", True)
    ]


def test_a_replay_costs_nothing_and_tries_nothing() -> None:
    sink = Collect()
    meter(Recorder([sink])).succeeded(generation(), replay=True)
    (record,) = sink.records
    assert record.replay and record.cost_nanos == 0 and record.attempts == ()
    assert record.input_tokens is None and record.images == 2


def test_the_log_sink_carries_the_record(caplog: pytest.LogCaptureFixture) -> None:
    from app.usage.log_sink import LogSink

    caplog.set_level(logging.INFO, logger="imagegate.usage")
    meter(Recorder([LogSink()])).succeeded(generation())
    (line,) = caplog.records
    assert line.getMessage().startswith("usage ") and "carrier=up" in line.getMessage()
    assert line.__dict__["usage"].carrier == "up"


def test_the_record_keeps_stored_images_without_their_base64() -> None:
    """Sinks such as the ledger hold records for a while: never the client's 4 MB of text."""
    sink = Collect()
    image = StoredImage("png", 1234, ref=StoredRef("img_1", "png", 1234), b64="aGVsbG8=", width=2)
    unstored = StoredImage("png", 1234, b64="aGVsbG8=", storage_error="disk full")
    done = dataclasses.replace(generation(), images=(image, unstored))
    meter(Recorder([sink])).succeeded(done)
    (record,) = sink.records
    assert record.stored == (StoredImage("png", 1234, ref=image.ref, width=2),)
