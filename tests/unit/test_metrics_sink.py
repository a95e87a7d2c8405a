"""The metrics sink adds to prometheus-client's values directly (``app.observability.adders``):
the same samples as the library's own ``inc``/``observe`` would make, for every amount a
histogram can see, and the same refusal of a negative count."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram

from app.domain import UsageRecord
from app.observability.adders import counter_add, histogram_add
from app.observability.metrics import LATENCY_BUCKETS, Metrics, MetricsSink

# Bucket bounds themselves, between them, past the last (+Inf), zero, negative, NaN.
AMOUNTS = (0.0, 0.1, 0.1000001, 0.25, 7.0, 600, 600.5, 1e9, -1.0, math.inf, math.nan)


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in registry.collect()
        for s in family.samples
        if not s.name.endswith("_created")
    }


def test_observe_fills_the_buckets_as_the_library_does() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    fast = Histogram("h", "h", ("a",), buckets=LATENCY_BUCKETS, registry=ours)
    slow = Histogram("h", "h", ("a",), buckets=LATENCY_BUCKETS, registry=theirs)
    observe = histogram_add(fast.labels("x"))
    for amount in AMOUNTS:
        observe(amount)
        slow.labels("x").observe(amount)
    mine, reference = samples(ours), samples(theirs)
    assert mine.keys() == reference.keys()
    for key, value in reference.items():
        assert mine[key] == value or (math.isnan(value) and math.isnan(mine[key])), key


def test_inc_adds_and_refuses_a_negative_amount() -> None:
    registry = CollectorRegistry()
    counter = Counter("c", "c", ("a",), registry=registry)
    inc = counter_add(counter.labels("x"))
    inc(1)
    inc(2.5)
    with pytest.raises(ValueError, match="non-negative"):
        inc(-1)
    assert registry.get_sample_value("c_total", {"a": "x"}) == 3.5


def record(**fields: object) -> UsageRecord:
    base: dict[str, object] = {
        "request_id": "r",
        "principal_id": "p",
        "principal_name": "alice",
        "model": "m",
        "operation": "generate",
        "outcome": "succeeded",
        "carrier": "a",
        "attempts": ("a:500", "a:timeout", "b:200"),
        "attempt_seconds": (0.5, 60.0, 0.25),
        "images": 2,
        "pixels": 2 * 1024 * 1024,
        "output_bytes": 1000,
        "quality": "high",
        "cost_nanos": 250_000_000,
        "latency": 1.0,
    }
    return UsageRecord(**{**base, **fields})  # type: ignore[arg-type]


def test_a_record_counts_once_per_write_in_every_family() -> None:
    registry = CollectorRegistry()
    sink = MetricsSink(Metrics(registry), ["m"], ["a", "b"])
    for _ in range(2):
        sink.write(record())
    sink.write(record(latency=700.0, cost_nanos=None, images=0))

    def get(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    requests = {"endpoint": "generate", "mode": "sync", "model": "m", "carrier": "a"}
    assert get("imagegate_requests_total", **requests, outcome="succeeded", error="none") == 3
    duration = {"endpoint": "generate", "model": "m", "outcome": "succeeded"}
    assert get("imagegate_request_duration_seconds_bucket", **duration, le="1.0") == 2
    assert get("imagegate_request_duration_seconds_bucket", **duration, le="600.0") == 2
    assert get("imagegate_request_duration_seconds_bucket", **duration, le="+Inf") == 3
    assert get("imagegate_request_duration_seconds_sum", **duration) == 702.0
    image = {"model": "m", "carrier": "a", "quality": "high", "size_class": "medium"}
    assert get("imagegate_images_total", **image) == 4
    assert get("imagegate_output_pixels_total", **image) == 4 * 1024 * 1024
    assert get("imagegate_cost_usd_total", model="m", carrier="a") == 0.5
    attempt = {"carrier": "a", "model": "m", "result": "transient"}
    assert get("imagegate_upstream_attempt_duration_seconds_count", **attempt) == 3
    assert get("imagegate_retries_total", model="m", carrier="a", failure_class="transient") == 3
    fallback = {"model": "m", "from_carrier": "a", "to_carrier": "b", "failure_class": "timeout"}
    assert get("imagegate_fallbacks_total", **fallback) == 3


def test_attempts_past_the_kept_plans_count_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("app.observability.metrics.MAX_PLANS", 0)
    registry = CollectorRegistry()
    sink = MetricsSink(Metrics(registry), ["m"], ["a", "b"])
    sink.write(record())
    sink.write(record(attempt_seconds=(0.5,)))  # durations of the first attempt only
    assert not sink._plans
    attempt = {"carrier": "a", "model": "m", "result": "transient"}
    count = "imagegate_upstream_attempt_duration_seconds_count"
    assert registry.get_sample_value(count, attempt) == 2
    ok = {"carrier": "b", "model": "m", "result": "ok"}
    assert registry.get_sample_value(count, ok) == 1
    fallback = {"model": "m", "from_carrier": "a", "to_carrier": "b", "failure_class": "timeout"}
    assert registry.get_sample_value("imagegate_fallbacks_total", fallback) == 2
