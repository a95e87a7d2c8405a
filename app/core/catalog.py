"""The model catalog: public names and aliases resolved to a rule set and a route list."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import date

from app.config.rules import RuleSet, apply_overrides, restrict_edits
from app.config.schema import CarrierConfig, GatewayConfig, ModelConfig, Price, Prices
from app.errors import InvalidType, ModelNotFound


@dataclass(frozen=True, slots=True)
class Route:
    """One way to serve a model, built once at start-up: a carrier, the model name it expects,
    its tier and weight, what it costs, how long one attempt may take and how often a
    transient failure is retried, and its effective rules: the model's rules with the route's
    ``overrides``, narrowed to the edits its carrier serves (``carriers[].edit``).

    ``offline``: its carrier's kind renders locally (the registry says so); such a route
    serves only when no real route is enabled, or after they failed if ``offline_fallback``."""

    carrier: str
    upstream_model: str
    rules: RuleSet
    tier: int = 1
    weight: float = 1.0
    prices: tuple[Price, ...] = ()  # by effective_from, oldest first; empty: no price
    timeout: float = 300.0
    retries: int = 1
    offline: bool = False
    offline_fallback: bool = False


@dataclass(frozen=True, slots=True)
class ModelSpec:
    name: str
    aliases: tuple[str, ...]
    rules: RuleSet
    owned_by: str
    created: int
    routes: tuple[Route, ...]
    timeout: float = 300.0
    timeout_by_quality: dict[str, float] = field(default_factory=dict)
    keepalive_json: bool = False

    def deadline(self, quality: str | None, client_timeout: float | None) -> float:
        """Seconds this request may take: per model and quality, within the client's patience."""
        budget = self.timeout_by_quality.get(quality or "auto", self.timeout)
        if client_timeout is not None and client_timeout > 0:
            budget = min(budget, max(client_timeout - 0.5, client_timeout * 0.9))
        return budget


class Catalog:
    def __init__(self, models: Iterable[ModelSpec], default_model: str | None) -> None:
        self.models = tuple(models)
        self._by_name = {name: spec for spec in self.models for name in (spec.name, *spec.aliases)}
        self._default = default_model

    def resolve(self, name: object) -> ModelSpec:
        """The model for a request's ``model`` field (None: the gateway's default model)."""
        if name is None:
            if self._default is None:
                raise ModelNotFound(
                    "No model given and this gateway has no default model.", param="model"
                )
            name = self._default
        if not isinstance(name, str):
            raise InvalidType("Invalid type for 'model': expected a string.", param="model")
        spec = self._by_name.get(name)
        if spec is None:
            raise ModelNotFound(
                f"The model '{name[:200]}' does not exist on this gateway.", param="model"
            )
        return spec

    def entries(self) -> list[tuple[str, ModelSpec]]:
        """Every id a client may use (names and aliases) with the model it means."""
        return list(self._by_name.items())


def build_catalog(config: GatewayConfig, offline: Collection[str] = frozenset()) -> Catalog:
    """The catalog; ``offline`` names the carriers whose kind is offline (from the registry)."""
    specs = (_spec(config, m, offline) for m in config.models)
    return Catalog(specs, config.server.default_model)


def _spec(config: GatewayConfig, model: ModelConfig, offline: Collection[str]) -> ModelSpec:
    rules = config.rule_sets[model.rules]
    carriers: dict[str, CarrierConfig] = {c.name: c for c in config.carriers}
    routes = tuple(
        Route(
            carrier=r.carrier,
            upstream_model=r.model or model.name,
            rules=restrict_edits(apply_overrides(rules, r.overrides), carriers[r.carrier].edit),
            tier=r.tier if r.tier is not None else position,
            weight=r.weight,
            prices=_prices(r.price if r.price is not None else model.price),
            timeout=carriers[r.carrier].timeout,
            retries=carriers[r.carrier].retries,
            offline=r.carrier in offline,
            offline_fallback=r.offline_fallback,
        )
        for position, r in enumerate(model.carriers, 1)
    )
    return ModelSpec(
        name=model.name,
        aliases=model.aliases,
        rules=rules,
        owned_by=model.owned_by,
        created=model.created,
        routes=routes,
        timeout=model.timeout,
        timeout_by_quality=dict(model.timeout_by_quality),
        keepalive_json=model.keepalive_json,
    )


def _prices(prices: Prices) -> tuple[Price, ...]:
    listed = () if prices is None else (prices,) if isinstance(prices, Price) else prices
    return tuple(sorted(listed, key=lambda p: p.effective_from or date.min))
