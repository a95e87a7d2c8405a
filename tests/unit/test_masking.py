"""Carrier results are masked whenever a secret occurs in any of their text, wherever it hides
and whatever characters it is made of; a result without one is passed on as it came."""

from __future__ import annotations

from typing import Any

import pytest

from app.core.failures import CarrierFailure
from app.domain import CarrierResult, UpstreamImage
from app.observability.redact import Redactor
from app.run.masking import mask_result

USAGE = {"input_tokens": 50, "input_tokens_details": {"image_tokens": 0, "text_tokens": 50}}
IMAGE = UpstreamImage(b64=memoryview(b"iVBORw0KGgo="), revised_prompt="a fox")
# Secrets JSON escapes (quote, backslash, control characters), non-ASCII and plain ones.
SECRETS = ['sk-"quoted"', "sk-back\\slash", "sk-new\nline\t", "sk-ünï-€", "sk-plain-123"]


def result(**fields: Any) -> CarrierResult:
    base: dict[str, Any] = {
        "images": (IMAGE,),
        "usage": USAGE,
        "size": "1024x1024",
        "quality": "medium",
        "background": "opaque",
        "output_format": "png",
    }
    return CarrierResult(**{**base, **fields})


def hiding(secret: str) -> list[CarrierResult]:
    """The secret in each place a carrier's result carries text."""
    return [
        result(size=f"1024x{secret}"),
        result(quality=secret),
        result(background=f"<{secret}>"),
        result(output_format=secret),
        result(images=(IMAGE, UpstreamImage(url="https://x.test/a.png", revised_prompt=secret))),
        result(usage={**USAGE, "note": f"key {secret}!"}),
        result(usage={**USAGE, secret: 1}),
        result(usage={"details": {"deep": [1, {"deeper": (secret,)}]}}),
    ]


def texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in texts(k) + texts(v)]
    if isinstance(value, list | tuple):
        return [t for item in value for t in texts(item)]
    return []


def all_text(masked: CarrierResult) -> list[str]:
    fields = (masked.size, masked.quality, masked.background, masked.output_format)
    prompts = [image.revised_prompt for image in masked.images]
    return texts([*fields, *prompts, masked.usage])


@pytest.mark.parametrize("secret", SECRETS)
def test_a_secret_is_masked_wherever_it_hides(secret: str) -> None:
    redactor = Redactor([secret, "sk-other-secret"])
    for leaky in hiding(secret):
        masked = mask_result(redactor, leaky)
        assert not [text for text in all_text(masked) if secret in text], leaky
        assert "***" in str(all_text(masked))


def test_text_json_cannot_encode_is_still_masked() -> None:
    redactor = Redactor(["sk-plain-123"])
    odd = [
        result(usage={"n": 2**70, "note": "sk-plain-123"}),  # too big for orjson
        result(usage={1: "sk-plain-123"}),  # a key that is not a string
        result(quality="\ud800 sk-plain-123"),  # a lone surrogate
    ]
    for leaky in odd:
        assert not [t for t in all_text(mask_result(redactor, leaky)) if "sk-plain-123" in t]


def test_a_result_without_secrets_is_passed_on_as_it_came() -> None:
    clean = result()
    assert mask_result(Redactor(SECRETS), clean) is clean
    assert mask_result(Redactor(), clean) is clean


def test_a_secret_in_canonical_base64_is_refused() -> None:
    redactor = Redactor(["c2stYmFzZTY0"])  # made of base64 letters: it could hide in an image
    leaky = result(images=(UpstreamImage(b64=memoryview(b"AAAAc2stYmFzZTY0AAAA")),))
    with pytest.raises(CarrierFailure):
        mask_result(redactor, leaky)
