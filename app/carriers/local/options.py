"""What a carrier of kind ``local`` is configured with: nothing beyond the common fields."""

from __future__ import annotations

from typing import Literal

from app.config.schema import CarrierConfig


class LocalConfig(CarrierConfig):
    """The offline Pillow renderer: no upstream, so no URL and no key."""

    kind: Literal["local"]
