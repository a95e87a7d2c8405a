"""Carrier edit support is data folded into each route's rules; routing says why a route
cannot take an edit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.carriers import CARRIER_OPTIONS, KINDS
from app.config.loader import ConfigError
from app.config.rules import EditSupport, RuleSet, apply_overrides, restrict_edits
from app.core.catalog import ModelSpec, Route
from app.core.routing import candidates, route_problem
from app.domain import ImageJob
from app.errors import UnsupportedParameter
from tests.support.images import input_image
from tests.support.rules import RULES

GI1 = RULES["gpt-image-1"]


def edit_job(images: int = 1, mask: bool = False, **image: Any) -> ImageJob:
    return ImageJob(
        operation="edit",
        model="gpt-image-1",
        prompt="p",
        images=tuple(input_image(param=f"image[{i}]", **image) for i in range(images)),
        mask=input_image(param="mask", has_alpha=True) if mask else None,
    )


def problem(job: ImageJob, support: EditSupport, rules: RuleSet = GI1) -> str | None:
    found = route_problem(job, restrict_edits(rules, support))
    return None if found is None else found[1]


def test_every_kind_serves_every_edit_by_default() -> None:
    defaults = [options.model_fields["edit"].default for options in CARRIER_OPTIONS.values()]
    assert defaults == [EditSupport()] * len(KINDS)
    assert restrict_edits(GI1, EditSupport()) is GI1
    assert problem(edit_job(16, mask=True), EditSupport()) is None


def test_generations_are_not_edits() -> None:
    job = ImageJob(operation="generate", model="m", prompt="p")
    assert problem(job, EditSupport(edits=False)) is None


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
    assert reason in (problem(job, support) or "")


def test_within_limits_is_fine() -> None:
    support = EditSupport(max_images=4, mask=False, json_inputs=False, max_image_bytes=100)
    assert problem(edit_job(4, byte_size=100), support) is None


def test_the_model_limits_still_apply_when_the_carrier_allows_more() -> None:
    narrow_model = apply_overrides(GI1, {"edit": {"max_images": 2}})
    assert "at most 2 input images" in (problem(edit_job(3), EditSupport(), narrow_model) or "")


def test_a_carrier_config_narrows_its_kind(tmp_path: Path, make_config: Any) -> None:
    def narrow(data: dict[str, Any]) -> None:
        data["carriers"][0]["edit"] = {"max_images": 4, "mask": False, "json": False}

    plain = make_config().carriers[0]
    assert plain.edit == EditSupport()
    narrowed = make_config(narrow).carriers[0]
    assert narrowed.edit == EditSupport(max_images=4, mask=False, json_inputs=False)

    def typo(data: dict[str, Any]) -> None:
        data["carriers"][0]["edit"] = {"masks": False}

    with pytest.raises(ConfigError, match=r"carriers\[0\]\.edit\.masks"):
        make_config(typo)


def test_routing_skips_carriers_whose_edit_support_falls_short() -> None:
    a = Route("a", "m", restrict_edits(GI1, EditSupport(mask=False)))
    b = Route("b", "m", restrict_edits(GI1, EditSupport(max_images=2)))
    spec = ModelSpec("gpt-image-1", (), GI1, "openai", 0, (a, b))
    assert [r.carrier for r in candidates(edit_job(1, mask=True), spec, {"a", "b"})] == ["b"]
    with pytest.raises(UnsupportedParameter) as info:
        candidates(edit_job(3, mask=True), spec, {"a", "b"})
    assert info.value.status == 400 and info.value.param == "mask"
    assert "carrier 'a' does not support masks" in info.value.message
    assert "carrier 'b' takes at most 2 input images" in info.value.message
