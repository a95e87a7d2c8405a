"""Edit inputs against each model's edit limits (the real config/rules.yaml)."""

from __future__ import annotations

from typing import Any

import pytest

from app.core.normalize import normalize
from app.domain import InputImage
from app.errors import InvalidRequest
from tests.support.images import input_image
from tests.support.rules import RULES

MB = 1024 * 1024


def edit(rules: str, images: list[InputImage], mask: InputImage | None = None, **params: Any):
    return normalize(
        {"prompt": "make it blue", **params},
        operation="edit",
        model=rules,
        rules=RULES[rules],
        default_response_format="url",
        images=images,
        mask=mask,
    )


def refused(rules: str, images: list[InputImage], mask: InputImage | None = None) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        edit(rules, images, mask)
    return info.value


def images(count: int, **kwargs: Any) -> list[InputImage]:
    return [input_image(param=f"image[{i}]", **kwargs) for i in range(count)]


def alpha_mask(size: tuple[int, int] = (32, 32), **kwargs: Any) -> InputImage:
    return input_image(size, param="mask", has_alpha=True, **kwargs)


@pytest.mark.parametrize(
    "rules", ["gpt-image-1", "gpt-image-1.5", "gpt-image-1-mini", "gpt-image-2", "gpt-image-2.5"]
)
def test_gpt_image_models_take_up_to_16_images_with_a_mask(rules: str) -> None:
    job = edit(rules, images(16, fmt="jpeg") + [], alpha_mask())
    assert len(job.images) == 16 and job.mask is not None
    for fmt in ("png", "jpeg", "webp"):
        assert edit(rules, images(1, fmt=fmt, byte_size=50 * MB)).images[0].format == fmt
    error = refused(rules, images(17))
    assert (error.param, error.code) == ("image", "array_above_max_length")


def test_no_image_is_a_missing_parameter() -> None:
    error = refused("gpt-image-2", [])
    assert (error.param, error.code) == ("image", "missing_required_parameter")


def test_each_image_is_at_most_50_mb() -> None:
    error = refused(
        "gpt-image-2", images(3)[:2] + [input_image(param="image[2]", byte_size=50 * MB + 1)]
    )
    assert (error.param, error.code) == ("image[2]", "file_too_large")


def test_dall_e_2_takes_one_square_png_under_4_mb() -> None:
    assert edit("dall-e-2", [input_image((256, 256))], alpha_mask((256, 256))).mask is not None
    cases = [
        ([input_image((256, 256), "jpeg")], "image", "unsupported_file_mimetype", "'image/png'."),
        ([input_image((256, 128))], "image", "invalid_value", "square"),
        ([input_image((256, 256), byte_size=4 * MB + 1)], "image", "file_too_large", "4 MB"),
        (images(2, size=(64, 64)), "image", "array_above_max_length", "exactly 1 image"),
    ]
    for inputs, param, code, text in cases:
        error = refused("dall-e-2", inputs)
        assert (error.param, error.code) == (param, code)
        assert text in error.message


def test_dall_e_3_does_not_edit() -> None:
    error = refused("dall-e-3", [input_image()])
    assert (error.param, error.code) == ("model", "unsupported_parameter")


@pytest.mark.parametrize(
    ("mask", "code", "text"),
    [
        (alpha_mask((64, 32)), "invalid_value", "is 64x32 but 'image[0]' is 32x32"),
        (alpha_mask(fmt="jpeg"), "unsupported_file_mimetype", "must be a PNG"),
        (input_image(param="mask", has_alpha=False), "invalid_value", "alpha channel"),
        (alpha_mask(byte_size=4 * MB + 1), "file_too_large", "at most 4,194,304 bytes"),
    ],
)
def test_bad_masks(mask: InputImage, code: str, text: str) -> None:
    error = refused("gpt-image-1", images(2), mask)
    assert (error.param, error.code) == ("mask", code)
    assert text in error.message


def test_the_mask_matches_the_first_image_only() -> None:
    inputs = [input_image((32, 32), param="image[0]"), input_image((500, 100), param="image[1]")]
    assert edit("gpt-image-1", inputs, alpha_mask((32, 32))).mask is not None


def test_edits_share_the_generation_normalization() -> None:
    job = edit("gpt-image-2", images(1), quality="hd", input_fidelity="high", n="2", stream="false")
    assert (job.quality, job.input_fidelity, job.n, job.stream) == ("high", None, 2, False)
    assert "quality: hd -> high" in job.adjustments
    assert any(a.startswith("input_fidelity: dropped") for a in job.adjustments)
    assert edit("gpt-image-1", images(1), input_fidelity="high").input_fidelity == "high"
