"""A kept result lets its images go and keeps everything else the carrier said."""

from __future__ import annotations

import dataclasses

from app.domain import CarrierResult, UpstreamImage
from app.run.pipeline import _without_images


def test_a_kept_result_keeps_every_field_but_its_images() -> None:
    # Every field set to something of its own, so a field the copy forgets shows.
    values = {field.name: f"value of {field.name}" for field in dataclasses.fields(CarrierResult)}
    result = CarrierResult(**{**values, "images": (UpstreamImage(b64="aGk="),)})  # type: ignore[arg-type]
    assert _without_images(result) == dataclasses.replace(result, images=())
