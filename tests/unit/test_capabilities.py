"""Carrier edit support is data; can_serve says why a carrier cannot take a job."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from app.capabilities import EditSupport, can_serve, no_capable_carrier
from app.carriers import KINDS, edit_support
from app.config import CarrierConfig
from app.domain import ImageJob
from tests.conftest import input_image
from tests.unit.test_normalize import RULES


def edit_job(images: int = 1, mask: bool = False, **image: Any) -> ImageJob:
    return ImageJob(
        operation="edit",
        model="gpt-image-1",
        rules=RULES["gpt-image-1"],
        prompt="p",
        images=tuple(input_image(param=f"image[{i}]", **image) for i in range(images)),
        mask=input_image(param="mask", has_alpha=True) if mask else None,
    )


def test_every_kind_serves_every_edit_by_default() -> None:
    assert all(kind.edit == EditSupport() for kind in KINDS.values())
    assert can_serve(edit_job(16, mask=True), EditSupport()) is None


def test_generations_are_not_edits() -> None:
    job = ImageJob(operation="generate", model="m", rules=RULES["gpt-image-1"], prompt="p")
    assert can_serve(job, EditSupport(edits=False)) is None


@pytest.mark.parametrize(
    ("support", "job", "reason"),
    [
        (EditSupport(edits=False), edit_job(), "does not support image edits"),
        (EditSupport(max_images=4), edit_job(5), "at most 4 input images; the request has 5"),
        (EditSupport(max_images=1), edit_job(2), "at most 1 input image;"),
        (EditSupport(mask=False), edit_job(mask=True), "does not support masks"),
        (EditSupport(json_inputs=False), edit_job(origin="url"), "only takes uploaded files"),
        (EditSupport(json_inputs=False), edit_job(origin="data_uri"), "only takes uploaded files"),
        (EditSupport(image_formats=("png",)), edit_job(fmt="webp"), "does not accept WEBP"),
        (EditSupport(max_image_bytes=100), edit_job(byte_size=101), "at most 100 bytes"),
    ],
)
def test_reasons(support: EditSupport, job: ImageJob, reason: str) -> None:
    assert reason in (can_serve(job, support) or "")


def test_within_limits_is_fine() -> None:
    support = EditSupport(max_images=4, mask=False, json_inputs=False, max_image_bytes=100)
    assert can_serve(edit_job(4, byte_size=100), support) is None


def test_a_carrier_config_narrows_its_kind() -> None:
    plain = CarrierConfig(name="r", kind="openai", base_url="http://r.test")
    assert edit_support(plain) == KINDS["openai"].edit
    narrow = CarrierConfig.model_validate(
        {
            "name": "r",
            "kind": "openai",
            "base_url": "http://r.test",
            "edit": {"max_images": 4, "mask": False, "json": False},
        }  # fmt: skip
    )
    assert edit_support(narrow) == EditSupport(max_images=4, mask=False, json_inputs=False)
    with pytest.raises(ValidationError):
        CarrierConfig.model_validate({"name": "r", "kind": "local", "edit": {"masks": False}})


def test_the_refusal_names_every_carrier_and_reason() -> None:
    error = no_capable_carrier("gpt-image-1", {"a": "it does not support masks", "b": "x"})
    assert error.status == 400
    assert "carrier 'a': it does not support masks; carrier 'b': x" in error.message
