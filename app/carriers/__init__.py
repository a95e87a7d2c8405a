"""The carrier registry: the only place where carrier kinds are named.

A kind is a folder (``app/carriers/<kind>/``) with its carrier and its options model, plus one
row here. The config loader validates each ``carriers[]`` entry with its kind's options model
(``CARRIER_OPTIONS``); wiring builds each carrier with :func:`build_carrier`. A row also says
how to check a carrier's key cheaply (``probe``, for ``imagegate check-carriers``) and whether
the kind renders offline (``offline``: such a carrier never silently stands in for a real one).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx

from app.carriers.base import Carrier, CarrierTools, ProbeResult, nothing_to_probe
from app.carriers.local.carrier import LocalCarrier
from app.carriers.local.options import LocalConfig
from app.carriers.openai.carrier import OpenAICarrier
from app.carriers.openai.options import OpenAIConfig
from app.carriers.openai.probe import probe_models
from app.config.schema import CarrierConfig, GatewayConfig
from app.core.failures import CarrierFailure

C = TypeVar("C", bound=CarrierConfig)


@dataclass(frozen=True, slots=True)
class CarrierKind(Generic[C]):
    """A kind's options model (what its ``carriers[]`` entries may say), its factory, its key
    probe (config, client, seconds), and whether it renders offline."""

    options: type[C]
    factory: Callable[[C, CarrierTools], Carrier]
    probe: Callable[[C, httpx.AsyncClient, float], Awaitable[ProbeResult]]
    offline: bool = False


KINDS: dict[str, CarrierKind[Any]] = {
    "openai": CarrierKind(OpenAIConfig, OpenAICarrier, probe_models),
    "local": CarrierKind(LocalConfig, LocalCarrier, nothing_to_probe, offline=True),
}

CARRIER_OPTIONS: dict[str, type[CarrierConfig]] = {
    name: kind.options for name, kind in KINDS.items()
}


def build_carrier(config: CarrierConfig, tools: CarrierTools) -> Carrier:
    """The carrier a validated ``carriers[]`` entry describes."""
    return KINDS[config.kind].factory(config, tools)


def is_offline(config: CarrierConfig) -> bool:
    return KINDS[config.kind].offline


def offline_carriers(config: GatewayConfig) -> frozenset[str]:
    """The names of the configured carriers whose kind renders offline."""
    return frozenset(carrier.name for carrier in config.carriers if is_offline(carrier))


async def probe_carrier(
    config: CarrierConfig, http: httpx.AsyncClient, seconds: float
) -> ProbeResult:
    """Check a carrier's key and reachability the cheap way its kind knows."""
    return await KINDS[config.kind].probe(config, http, seconds)


__all__ = [
    "CARRIER_OPTIONS",
    "KINDS",
    "Carrier",
    "CarrierFailure",
    "CarrierKind",
    "CarrierTools",
    "ProbeResult",
    "build_carrier",
    "is_offline",
    "offline_carriers",
    "probe_carrier",
]
