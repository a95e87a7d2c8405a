"""The policy's one pure function: each refusal, its answer, and the order they come in."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from app.access.policy import Demand, Load, check, over_budget
from app.domain import Limits, Principal
from app.errors import GatewayError, error_headers

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
DEMAND = Demand(
    model="gpt-image-2",
    names=frozenset({"gpt-image-2", "gi2"}),
    n=2,
    pixels=1024 * 1024,
    quality="high",
    edit_images=0,
    priced=True,
)
KEY = Principal(id="key_1", name="alice", team="team_1", team_name="design")


def refusal(
    principal: Principal | None, demand: Demand | None = DEMAND, **load: Load
) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        check(principal, NOW, demand, load or None)
    return caught.value


def answer(error: GatewayError) -> tuple[int, str | None, str | None]:
    return error.status, error.code, error.param


def test_unknown_and_expired_keys_are_401() -> None:
    assert answer(refusal(None)) == (401, "invalid_api_key", None)
    expired = replace(KEY, expires_at=NOW)
    assert answer(refusal(expired, None)) == (401, "invalid_api_key", None)
    assert check(replace(KEY, expires_at=NOW + timedelta(seconds=1)), NOW) is not None


@pytest.mark.parametrize("allowed", [{"gpt-image-2"}, {"gi2"}])
def test_models_resolve_through_aliases(allowed: set[str]) -> None:
    key = replace(KEY, limits=Limits(models=frozenset(allowed)))
    assert check(key, NOW, DEMAND) is key
    other = replace(DEMAND, model="dall-e-3", names=frozenset({"dall-e-3"}))
    assert answer(refusal(key, other)) == (403, "model_not_allowed", "model")


def test_a_team_model_list_caps_its_keys() -> None:
    key = replace(KEY, team_limits=Limits(models=frozenset({"dall-e-3"})))
    error = refusal(key)
    assert answer(error) == (403, "model_not_allowed", "model") and "team 'design'" in error.message


def test_a_budget_refuses_an_unpriced_model() -> None:
    unpriced = replace(DEMAND, priced=False)
    assert check(KEY, NOW, unpriced) is KEY  # no budget: nothing to protect
    key = replace(KEY, team_limits=Limits(budget_nanos=10**9))
    assert answer(refusal(key, unpriced)) == (403, "model_unpriced", "model")


@pytest.mark.parametrize(
    ("limits", "param"),
    [
        (Limits(max_n=1), "n"),
        (Limits(max_pixels=1024 * 1023), "size"),
        (Limits(qualities=frozenset({"low", "medium"})), "quality"),
        (Limits(max_edit_images=0), "image"),
    ],
)
def test_parameters_beyond_the_limits_are_403_naming_them(limits: Limits, param: str) -> None:
    demand = replace(DEMAND, edit_images=1)
    assert answer(refusal(replace(KEY, limits=limits), demand)) == (403, "limit_exceeded", param)
    within = Limits(
        max_n=2, max_pixels=1024 * 1024, qualities=frozenset({"high"}), max_edit_images=1
    )
    assert check(replace(KEY, limits=within), NOW, demand) is not None


def test_rate_limits_are_429_with_openai_headers() -> None:
    key = replace(KEY, limits=Limits(requests_per_minute=10, images_per_minute=20))
    assert check(key, NOW, DEMAND, {"key": Load(requests=9, images=18, reset=12.5)}) is key
    error = refusal(key, key=Load(requests=9, images=19, reset=12.5))
    assert answer(error) == (429, "rate_limit_exceeded", None)
    assert error_headers(error) == {
        "retry-after": "13",
        "retry-after-ms": "12500",
        "x-ratelimit-limit-requests": "10",
        "x-ratelimit-remaining-requests": "1",
        "x-ratelimit-reset-requests": "13s",
        "x-ratelimit-limit-images": "20",
        "x-ratelimit-remaining-images": "1",
        "x-ratelimit-reset-images": "13s",
    }
    assert answer(refusal(key, key=Load(requests=10))) == (429, "rate_limit_exceeded", None)


def test_concurrency_and_team_rates() -> None:
    key = replace(KEY, limits=Limits(max_concurrent=2), team_limits=Limits(requests_per_minute=5))
    error = refusal(key, key=Load(concurrent=2))
    assert error.headers["x-ratelimit-remaining-concurrent"] == "0" and error.retry_after == 1.0
    error = refusal(key, key=Load(concurrent=1), team=Load(requests=5))
    assert "team 'design'" in error.message and error.headers["x-ratelimit-limit-requests"] == "5"


def test_refusals_come_in_the_documented_order() -> None:
    everything = Limits(models=frozenset({"dall-e-3"}), max_n=1, requests_per_minute=1)
    key = replace(KEY, limits=everything)
    busy = Load(requests=1)
    assert answer(refusal(replace(key, expires_at=NOW), key=busy))[0] == 401
    assert answer(refusal(key, key=busy))[1] == "model_not_allowed"
    key = replace(key, limits=replace(everything, models=None))
    assert answer(refusal(key, key=busy))[1] == "limit_exceeded"
    key = replace(key, limits=replace(everything, models=None, max_n=None))
    assert answer(refusal(key, key=busy))[1] == "rate_limit_exceeded"


def test_an_exhausted_budget_says_do_not_retry() -> None:
    error = over_budget(
        replace(KEY, limits=Limits(budget_nanos=1, budget_period="day")), 40_000_000
    )
    assert answer(error) == (429, "insufficient_quota", None)
    assert error.type == "insufficient_quota" and "$0.04" in error.message
    assert error_headers(error) == {"x-should-retry": "false"}
