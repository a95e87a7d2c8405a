"""The carrier registry: the only place where carrier kinds are named."""

from __future__ import annotations

from dataclasses import dataclass

from app.carriers.base import Carrier, CarrierFactory, CarrierTools
from app.carriers.local.carrier import LocalCarrier
from app.carriers.openai.carrier import OpenAICarrier
from app.config.rules import EditSupport
from app.config.schema import CarrierConfig
from app.core.capabilities import FULL_EDIT_SUPPORT
from app.core.failures import CarrierFailure


@dataclass(frozen=True, slots=True)
class CarrierKind:
    """How to build a carrier of one kind, which config fields it cannot do without, and what
    it serves for edits unless its config says less."""

    factory: CarrierFactory
    requires: tuple[str, ...] = ()
    edit: EditSupport = FULL_EDIT_SUPPORT


KINDS: dict[str, CarrierKind] = {
    "openai": CarrierKind(OpenAICarrier, requires=("base_url",)),
    "local": CarrierKind(LocalCarrier),
}

REQUIRED_FIELDS = {name: kind.requires for name, kind in KINDS.items()}


def edit_support(config: CarrierConfig) -> EditSupport:
    """What a configured carrier serves for edits: its config's ``edit``, else its kind's."""
    return config.edit if config.edit is not None else KINDS[config.kind].edit


__all__ = [
    "KINDS",
    "REQUIRED_FIELDS",
    "Carrier",
    "CarrierFailure",
    "CarrierKind",
    "CarrierTools",
    "edit_support",
]
