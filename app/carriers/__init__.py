"""The carrier registry: the only place where carrier kinds are named."""

from __future__ import annotations

from dataclasses import dataclass

from app.carriers.base import Carrier, CarrierFactory, CarrierFailure, CarrierTools
from app.carriers.local import LocalCarrier
from app.carriers.openai_compat import OpenAICarrier


@dataclass(frozen=True, slots=True)
class CarrierKind:
    """How to build a carrier of one kind, and which config fields it cannot do without."""

    factory: CarrierFactory
    requires: tuple[str, ...] = ()


KINDS: dict[str, CarrierKind] = {
    "openai": CarrierKind(OpenAICarrier, requires=("base_url",)),
    "local": CarrierKind(LocalCarrier),
}

REQUIRED_FIELDS = {name: kind.requires for name, kind in KINDS.items()}

__all__ = ["KINDS", "REQUIRED_FIELDS", "Carrier", "CarrierFailure", "CarrierKind", "CarrierTools"]
