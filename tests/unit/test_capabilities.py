"""Carrier edit support is data; can_serve says why a carrier cannot take a job."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from app.carriers import KINDS, edit_support
from app.config import CarrierConfig
from app.config.rules import EditSupport
from app.core.capabilities import can_serve
from app.domain import ImageJob
from tests.support.images import input_image
from tests.support.rules import RULES


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


def test_routing_skips_carriers_whose_edit_support_falls_short() -> None:
    from app.core.catalog import ModelSpec, Route
    from app.core.routing import candidates
    from app.errors import UnsupportedParameter

    rules = RULES["gpt-image-1"]
    spec = ModelSpec(
        "gpt-image-1", (), rules, "openai", 0, (Route("a", "m", rules), Route("b", "m", rules))
    )
    supports = {"a": EditSupport(mask=False), "b": EditSupport(max_images=2)}
    assert [r.carrier for r in candidates(edit_job(1, mask=True), spec, {"a", "b"}, supports)] == [
        "b"
    ]
    with pytest.raises(UnsupportedParameter) as info:
        candidates(edit_job(3, mask=True), spec, {"a", "b"}, supports)
    assert info.value.status == 400 and info.value.param == "mask"
    assert "carrier 'a' does not support masks" in info.value.message
    assert "carrier 'b' takes at most 2 input images" in info.value.message
