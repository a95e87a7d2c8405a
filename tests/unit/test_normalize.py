"""Every rule of every shipped rule set, table-driven, against the real config/rules.yaml."""

from __future__ import annotations

from typing import Any

import pytest

from app.core.normalize import normalize
from app.errors import InvalidRequest, InvalidType, MissingParameter, UnsupportedParameter
from tests.support.rules import RULES, job

GPT = ["gpt-image-1", "gpt-image-1.5", "gpt-image-1-mini", "gpt-image-2", "gpt-image-2.5"]


def refused(rules: str, **params: Any) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        job(rules, **params)
    return info.value


# --- accepted values -----------------------------------------------------------------------

ACCEPTED = [
    *[(r, {"size": s}) for r in GPT for s in ("auto", "1024x1024", "1536x1024", "1024x1536")],
    *[(r, {"quality": q}) for r in GPT for q in ("auto", "low", "medium", "high")],
    *[(r, {"background": b}) for r in GPT for b in ("auto", "opaque", "transparent")],
    *[(r, {"output_format": f}) for r in GPT for f in ("png", "jpeg", "webp")],
    *[(r, {"moderation": m}) for r in GPT for m in ("auto", "low")],
    *[(r, {"n": n}) for r in GPT for n in (1, 10)],
    ("gpt-image-2", {"size": "2048x1152"}),
    ("gpt-image-2", {"size": "3840x2160"}),
    ("gpt-image-2", {"size": "2160x3840"}),
    ("gpt-image-2", {"size": "1024x640"}),  # exactly the minimum pixel count
    ("gpt-image-2", {"size": "2880x2880"}),
    ("gpt-image-2", {"size": "2304x768"}),  # exactly 3:1
    ("gpt-image-2.5", {"quality": "xhigh"}),
    ("gpt-image-2.5", {"quality": "max"}),
    ("gpt-image-2.5", {"size": "3840x2160"}),
    ("dall-e-3", {"size": "1792x1024", "quality": "hd", "style": "natural"}),
    ("dall-e-3", {"quality": "standard", "style": "vivid"}),
    ("dall-e-2", {"size": "256x256", "n": 10}),
    ("gpt-image-1", {"output_format": "jpeg", "output_compression": 0}),
    ("gpt-image-1", {"output_format": "webp", "output_compression": 100}),
    ("gpt-image-2", {"stream": True, "partial_images": 3}),
    ("gpt-image-2", {"stream": True, "partial_images": 0}),
    ("gpt-image-2", {"user": "user-1234"}),
]


@pytest.mark.parametrize(("rules", "params"), ACCEPTED)
def test_accepted(rules: str, params: dict[str, Any]) -> None:
    result = job(rules, **params)
    for name, value in params.items():
        assert getattr(result, name) == value


# --- refused values: (rules, params, param named in the error, error class) -----------------

REFUSED = [
    ("gpt-image-2", {"n": 0}, "n", InvalidRequest),
    ("gpt-image-2", {"n": 11}, "n", InvalidRequest),
    ("gpt-image-2", {"n": "two"}, "n", InvalidType),
    ("gpt-image-2", {"n": 1.5}, "n", InvalidType),
    ("gpt-image-2", {"n": True}, "n", InvalidType),
    ("gpt-image-2", {"n": [1]}, "n", InvalidType),
    ("dall-e-3", {"n": 2}, "n", InvalidRequest),
    ("gpt-image-2", {"size": "1000x1000"}, "size", InvalidRequest),  # not multiples of 16
    ("gpt-image-2", {"size": "4000x1000"}, "size", InvalidRequest),  # edge > 3840
    ("gpt-image-2", {"size": "16x16"}, "size", InvalidRequest),  # too few pixels
    ("gpt-image-2", {"size": "abc"}, "size", InvalidRequest),
    ("gpt-image-2", {"size": "2400x768"}, "size", InvalidRequest),  # ratio > 3:1
    ("gpt-image-2", {"size": "3840x2400"}, "size", InvalidRequest),  # > 8,294,400 pixels
    ("gpt-image-2", {"size": 1024}, "size", InvalidType),
    ("gpt-image-1", {"size": "2048x1152"}, "size", InvalidRequest),  # enum only
    ("gpt-image-1", {"size": "1792x1024"}, "size", InvalidRequest),
    ("dall-e-3", {"size": "auto"}, "size", InvalidRequest),
    ("dall-e-2", {"size": "1024x1792"}, "size", InvalidRequest),
    ("gpt-image-2", {"quality": "standard"}, "quality", InvalidRequest),
    ("gpt-image-2", {"quality": "xhigh"}, "quality", InvalidRequest),
    ("gpt-image-2", {"quality": "max"}, "quality", InvalidRequest),
    ("gpt-image-1", {"quality": "ultra"}, "quality", InvalidRequest),
    ("dall-e-2", {"quality": "hd"}, "quality", InvalidRequest),
    ("gpt-image-2", {"background": "transparent", "output_format": "jpeg"}, "background",
     InvalidRequest),
    ("gpt-image-2", {"background": "purple"}, "background", InvalidRequest),
    ("gpt-image-2", {"output_format": "gif"}, "output_format", InvalidRequest),
    ("gpt-image-2", {"output_compression": 50}, "output_compression", InvalidRequest),  # png
    ("gpt-image-2", {"output_compression": 50, "output_format": "png"}, "output_compression",
     InvalidRequest),
    ("gpt-image-2", {"output_compression": 101, "output_format": "jpeg"}, "output_compression",
     InvalidRequest),
    ("gpt-image-2", {"output_compression": -1, "output_format": "webp"}, "output_compression",
     InvalidRequest),
    ("dall-e-3", {"output_compression": 50}, "output_compression", UnsupportedParameter),
    ("gpt-image-2", {"partial_images": 2}, "partial_images", InvalidRequest),
    ("gpt-image-2", {"stream": True, "partial_images": 4}, "partial_images", InvalidRequest),
    ("gpt-image-2", {"stream": True, "n": 2}, "stream", InvalidRequest),
    ("gpt-image-2", {"stream": "maybe"}, "stream", InvalidType),
    ("dall-e-3", {"stream": True}, "stream", UnsupportedParameter),
    ("gpt-image-2", {"style": "vivid"}, "style", UnsupportedParameter),
    ("gpt-image-1", {"style": "natural"}, "style", UnsupportedParameter),
    ("dall-e-3", {"style": "cartoon"}, "style", InvalidRequest),
    ("dall-e-3", {"background": "transparent"}, "background", UnsupportedParameter),
    ("dall-e-3", {"moderation": "low"}, "moderation", UnsupportedParameter),
    ("gpt-image-2", {"moderation": "none"}, "moderation", InvalidRequest),
    ("gpt-image-2", {"response_format": "png"}, "response_format", InvalidRequest),
    ("gpt-image-2", {"user": 42}, "user", InvalidType),
    ("gpt-image-2", {"prompt": ""}, "prompt", InvalidRequest),
    ("gpt-image-2", {"prompt": ["a", "b"]}, "prompt", InvalidType),
    ("gpt-image-2", {"prompt": "x" * 32001}, "prompt", InvalidRequest),
    ("dall-e-3", {"prompt": "x" * 4001}, "prompt", InvalidRequest),
    ("dall-e-2", {"prompt": "x" * 1001}, "prompt", InvalidRequest),
]  # fmt: skip


@pytest.mark.parametrize(("rules", "params", "param", "error"), REFUSED)
def test_refused(rules: str, params: dict[str, Any], param: str, error: type) -> None:
    exc = refused(rules, **params)
    assert type(exc) is error
    assert exc.param == param
    assert exc.status == 400
    assert exc.message


def test_missing_prompt() -> None:
    with pytest.raises(MissingParameter) as info:
        normalize({}, operation="generate", model="m", rules=RULES["gpt-image-2"],
                  default_response_format="url")  # fmt: skip
    assert info.value.param == "prompt"
    assert info.value.code == "missing_required_parameter"


def test_prompt_at_the_limit_is_accepted() -> None:
    assert len(job("dall-e-3", prompt="x" * 4000).prompt) == 4000


def test_streaming_with_n_above_one_uses_openais_message() -> None:
    assert (
        refused("gpt-image-2", stream=True, n=2).message == "Streaming is only supported with n=1."
    )


# --- adjustments -------------------------------------------------------------------------------


@pytest.mark.parametrize("rules", GPT)
def test_hd_becomes_high_and_is_reported(rules: str) -> None:
    result = job(rules, quality="hd")
    assert result.quality == "high"
    assert "quality: hd -> high" in result.adjustments


def test_dall_e_3_keeps_hd() -> None:
    result = job("dall-e-3", quality="hd")
    assert (result.quality, result.adjustments) == ("hd", ())


def test_null_means_not_set() -> None:
    result = job("gpt-image-2", quality=None, size=None, n=None, style=None, response_format=None)
    assert (result.quality, result.size, result.n, result.style) == (None, None, 1, None)
    assert result.response_format == "url"
    assert result.adjustments == ()


def test_form_strings_are_coerced() -> None:
    result = job(
        "gpt-image-1", n="3", stream="false", output_format="webp", output_compression="40"
    )
    assert (result.n, result.stream, result.output_compression) == (3, False, 40)


def test_size_separators_are_normalized_and_reported() -> None:
    result = job("gpt-image-2", size="1536×1024")
    assert result.size == "1536x1024"
    assert "size: 1536×1024 -> 1536x1024" in result.adjustments


def test_auto_for_an_unsupported_parameter_is_dropped_and_reported() -> None:
    result = job("dall-e-3", background="auto", moderation="auto")
    assert result.background is None and result.moderation is None
    assert result.adjustments == (
        "background: dropped (not supported by dall-e-3)",
        "moderation: dropped (not supported by dall-e-3)",
    )


def test_unknown_parameters_are_ignored_and_reported() -> None:
    result = job("gpt-image-2", seed=7, image="https://example.com/a.png")
    assert result.adjustments == (
        "image: ignored (unknown parameter)",
        "seed: ignored (unknown parameter)",
    )


def test_input_fidelity_is_dropped_on_generations() -> None:
    assert job("gpt-image-1", input_fidelity="high").input_fidelity is None


@pytest.mark.parametrize(
    ("rules", "kept"), [("gpt-image-1", "high"), ("gpt-image-2", None), ("gpt-image-1-mini", None)]
)
def test_input_fidelity_on_edits_is_kept_only_where_supported(rules: str, kept: str | None) -> None:
    result = job(rules, operation="edit", input_fidelity="high")
    assert result.input_fidelity == kept
    assert (kept is None) == any(
        a.startswith("input_fidelity: dropped") for a in result.adjustments
    )
