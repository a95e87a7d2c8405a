"""Pure routing: capability filtering, tiers and weights, retry decisions, final errors."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace

import pytest

from app.config.rules import apply_overrides
from app.config.runtime import RetryConfig
from app.core.catalog import ModelSpec, Route
from app.core.failures import CarrierFailure, classify_status
from app.core.routing import candidates, decide, final_error, order
from app.errors import (
    NoCarrierAvailable,
    RateLimited,
    UnsupportedParameter,
    UpstreamFailed,
    UpstreamRejected,
    UpstreamTimeout,
)
from tests.support.rules import RULES, job

GI2 = RULES["gpt-image-2"]


def spec(*routes: Route) -> ModelSpec:
    return ModelSpec("gpt-image-2", (), GI2, "openai", 0, routes)


def route(name: str, tier: int = 1, weight: float = 1.0, **overrides: object) -> Route:
    return Route(name, "m", apply_overrides(GI2, overrides), tier, weight)


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (400, None, "rejected"), (422, None, "rejected"), (401, None, "key_rejected"), (403, None, "key_rejected"),
        (404, None, "carrier"), (402, None, "carrier"), (429, "insufficient_quota", "carrier"),
        (429, "rate_limit_exceeded", "rate_limited"), (408, None, "transient"), (409, None, "transient"),
        (500, None, "transient"), (502, None, "transient"), (503, None, "transient"), (504, None, "transient"),
    ],
)  # fmt: skip
def test_failure_classes_come_from_status_and_code(
    status: int, code: str | None, kind: str
) -> None:
    assert classify_status(status, code) == kind


def test_capability_filtering_skips_carriers_that_cannot_serve() -> None:
    no_transparency = route("a", backgrounds=["auto", "opaque"])
    routes = candidates(
        job("gpt-image-2", background="transparent"), spec(no_transparency, route("b")), {"a", "b"}
    )
    assert [r.carrier for r in routes] == ["b"]


@pytest.mark.parametrize(
    ("params", "overrides", "param"),
    [
        ({"background": "transparent"}, {"backgrounds": ["auto", "opaque"]}, "background"),
        ({"size": "3840x2160"}, {"sizes": ["auto", "1024x1024"]}, "size"),
        ({"n": 4}, {"n": [1, 1]}, "n"),
        (
            {"output_format": "webp", "output_compression": 50},
            {"output_compression": False},
            "output_compression",
        ),
    ],
)
def test_no_capable_carrier_is_a_400_naming_the_parameter(
    params: dict, overrides: dict, param: str
) -> None:
    with pytest.raises(UnsupportedParameter) as info:
        candidates(job("gpt-image-2", **params), spec(route("a", **overrides)), {"a"})
    assert info.value.param == param and "No carrier" in info.value.message


def test_carriers_that_cannot_stream_still_serve_streaming_jobs() -> None:
    # The gateway synthesizes the stream (keep-alives, then one completed event).
    routes = candidates(job("gpt-image-2", stream=True), spec(route("a", stream=False)), {"a"})
    assert [r.carrier for r in routes] == ["a"]


def test_edit_capabilities() -> None:
    from app.domain import InputImage
    from app.inputs.spool import MemoryBlob

    images = tuple(
        InputImage(MemoryBlob(b""), "png", 8, 8, False, f"{i}.png", f"image[{i}]") for i in range(5)
    )
    edit = replace(job("gpt-image-2", operation="edit"), images=images)
    few = route("few", edit={"max_images": 4})
    assert [r.carrier for r in candidates(edit, spec(few, route("many")), {"few", "many"})] == [
        "many"
    ]


def test_disabled_carriers_are_not_candidates() -> None:
    with pytest.raises(NoCarrierAvailable):
        candidates(job("gpt-image-2"), spec(route("a")), set())


def test_tiers_come_first_whatever_the_weights() -> None:
    routes = [route("backup", tier=2, weight=100), route("main", tier=1, weight=0.01)]
    for seed in range(50):
        assert [r.carrier for r in order(routes, random.Random(seed))] == ["main", "backup"]


def test_weighted_choice_within_a_tier() -> None:
    rng = random.Random(1234)
    routes = [route("a", weight=3), route("b", weight=1), route("c", tier=2)]
    firsts = Counter(order(routes, rng)[0].carrier for _ in range(4000))
    assert firsts["a"] / 4000 == pytest.approx(0.75, abs=0.03)
    assert firsts["c"] == 0
    assert all(len(order(routes, rng)) == 3 for _ in range(10))


POLICY = RetryConfig(backoff_base=0.5, backoff_max=8, max_retry_after=30)


@pytest.mark.parametrize(
    ("failure", "done", "allowed", "remaining", "action"),
    [
        (CarrierFailure("rejected", "no"), 0, 3, 100, "stop"),
        (CarrierFailure("carrier", "key"), 0, 3, 100, "next"),
        (CarrierFailure("transient", "500"), 0, 1, 100, "retry"),
        (CarrierFailure("transient", "500"), 1, 1, 100, "next"),
        (CarrierFailure("timeout", "slow"), 0, 2, 100, "retry"),
        (CarrierFailure("rate_limited", "429", retry_after=5), 0, 1, 100, "retry"),
        (CarrierFailure("rate_limited", "429", retry_after=60), 0, 1, 100, "next"),
        (CarrierFailure("rate_limited", "429", retry_after=5), 0, 1, 4, "next"),
        (CarrierFailure("transient", "500"), 0, 1, 0.1, "next"),
    ],
)
def test_decisions(
    failure: CarrierFailure, done: int, allowed: int, remaining: float, action: str
) -> None:
    assert decide(failure, done, allowed, POLICY, remaining, random.Random(0)).action == action


def test_retry_after_is_honoured_exactly_and_backoff_grows_with_jitter() -> None:
    rng = random.Random(0)
    assert (
        decide(CarrierFailure("rate_limited", "x", retry_after=2.5), 0, 1, POLICY, 100, rng).delay
        == 2.5
    )
    delays = [
        decide(CarrierFailure("transient", "x"), k, 10, POLICY, 100, rng).delay for k in range(6)
    ]
    for k, delay in enumerate(delays):
        cap = min(0.5 * 2**k, 8)
        assert 0.75 * cap <= delay <= cap


def test_final_error_selection() -> None:
    limited = [("a", CarrierFailure("rate_limited", "a busy", status=429, retry_after=3)),
               ("b", CarrierFailure("rate_limited", "b busy", status=429, retry_after=9))]  # fmt: skip
    error = final_error(limited)
    assert isinstance(error, RateLimited) and error.retry_after == 3
    assert "a: a busy" in error.message and "b: b busy" in error.message
    timeouts = [("a", CarrierFailure("timeout", "slow")), ("b", CarrierFailure("timeout", "slow"))]
    assert isinstance(final_error(timeouts), UpstreamTimeout)
    mixed = [("a", CarrierFailure("rate_limited", "x")), ("b", CarrierFailure("timeout", "y"))]
    assert isinstance(final_error(mixed), UpstreamFailed)
    refused = final_error(
        [
            (
                "a",
                CarrierFailure(
                    "rejected",
                    "unsafe",
                    upstream_error={
                        "code": "moderation_blocked",
                        "type": "image_generation_user_error",
                    },
                ),
            )
        ]
    )
    assert isinstance(refused, UpstreamRejected) and refused.status == 400
    assert (refused.code, refused.type, refused.should_retry) == (
        "moderation_blocked",
        "image_generation_user_error",
        False,
    )
