"""The JSON formatter's own work: the time as ``datetime`` writes it (made once per second
here), and a usage line's fields, without a reader of the real gateway's output."""

from __future__ import annotations

import json
import logging
import random
import sys
from datetime import UTC, datetime

from app.domain import UsageRecord
from app.observability.json_logs import IsoTime, JsonFormatter


def reference(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")


def test_the_time_is_the_one_datetime_writes() -> None:
    iso = IsoTime()
    second = 1_764_100_000.0
    moments = [second + k / 1e6 + j * 1e-7 for k in range(0, 1_000_001, 499) for j in (-6, 0, 6)]
    moments += [second + 0.9999995, second + 0.9999996, second + 0.0005, 0.0, 1.5, -1.5, -4e-7]
    moments += [second + random.Random(7).uniform(-3, 3) for _ in range(5000)]
    for created in moments:  # in order, then out of order: the cached second must not leak
        assert iso(created) == reference(created), created
    for created in random.Random(8).sample(moments, len(moments)):
        assert iso(created) == reference(created), created


def line(message: str, **extra: object) -> dict[str, object]:
    record = logging.LogRecord("imagegate.usage", logging.INFO, __file__, 1, message, None, None)
    record.__dict__.update(extra)
    parsed: dict[str, object] = json.loads(JsonFormatter().format(record))
    assert parsed.pop("time") == reference(record.created)
    return parsed


def test_a_usage_line_carries_what_the_request_had() -> None:
    usage = UsageRecord(
        request_id="r",
        principal_id="p",
        principal_name="alice",
        model="gpt-image-2",
        operation="generate",
        outcome="succeeded",
        carrier="mock",
        attempts=("mock:200",),
        images=1,
        pixels=1024 * 1024,
        output_bytes=50_000,
        size="1024x1024",
        quality="auto",
        cost_nanos=42_000_000,
        latency=0.5,
        stream=True,
        prompt="never logged",
    )
    assert line("usage ...", request_id="r1", usage=usage) == {
        "level": "info",
        "logger": "imagegate.usage",
        "request_id": "r1",
        "message": "usage ...",
        "key": "alice",
        "model": "gpt-image-2",
        "operation": "generate",
        "carrier": "mock",
        "attempts": ["mock:200"],
        "outcome": "succeeded",
        "latency_s": 0.5,
        "images": 1,
        "pixels": 1024 * 1024,
        "bytes": 50_000,
        "size": "1024x1024",
        "quality": "auto",
        "stream": True,
        "async_job": False,
        "replay": False,
        "client_gone": False,
        "cost_usd": 0.042,
    }


def test_a_plain_line_has_the_five_fields_and_its_exception() -> None:
    assert line("hello") == {
        "level": "info",
        "logger": "imagegate.usage",
        "request_id": "-",
        "message": "hello",
    }
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        failed = line("failed", exc_info=sys.exc_info())
    assert str(failed["exception"]).endswith("RuntimeError: boom")
