"""The carrier registry: the only place where carrier kinds are named.

A kind is a folder (``app/carriers/<kind>/``) with its carrier and its options model, plus one
row here. The config loader validates each ``carriers[]`` entry with its kind's options model
(``CARRIER_OPTIONS``); wiring builds each carrier with :func:`build_carrier`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from app.carriers.base import Carrier, CarrierTools
from app.carriers.local.carrier import LocalCarrier
from app.carriers.local.options import LocalConfig
from app.carriers.openai.carrier import OpenAICarrier
from app.carriers.openai.options import OpenAIConfig
from app.config.schema import CarrierConfig
from app.core.failures import CarrierFailure

C = TypeVar("C", bound=CarrierConfig)


@dataclass(frozen=True, slots=True)
class CarrierKind(Generic[C]):
    """A kind's options model (what its ``carriers[]`` entries may say) and its factory."""

    options: type[C]
    factory: Callable[[C, CarrierTools], Carrier]


KINDS: dict[str, CarrierKind[Any]] = {
    "openai": CarrierKind(OpenAIConfig, OpenAICarrier),
    "local": CarrierKind(LocalConfig, LocalCarrier),
}

CARRIER_OPTIONS: dict[str, type[CarrierConfig]] = {
    name: kind.options for name, kind in KINDS.items()
}


def build_carrier(config: CarrierConfig, tools: CarrierTools) -> Carrier:
    """The carrier a validated ``carriers[]`` entry describes."""
    return KINDS[config.kind].factory(config, tools)


__all__ = [
    "CARRIER_OPTIONS",
    "KINDS",
    "Carrier",
    "CarrierFailure",
    "CarrierKind",
    "CarrierTools",
    "build_carrier",
]
