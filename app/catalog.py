"""The model catalog: public names and aliases resolved to a rule set and a route list."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from app.config import GatewayConfig, Price
from app.errors import InvalidType, ModelNotFound
from app.rules import RuleSet


@dataclass(frozen=True, slots=True)
class Route:
    """One way to serve a model: a carrier, the model name it expects, and what it costs."""

    carrier: str
    upstream_model: str
    price: Price | None


@dataclass(frozen=True, slots=True)
class ModelSpec:
    name: str
    aliases: tuple[str, ...]
    rules: RuleSet
    owned_by: str
    created: int
    routes: tuple[Route, ...]


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


def build_catalog(config: GatewayConfig) -> Catalog:
    specs = (
        ModelSpec(
            name=model.name,
            aliases=model.aliases,
            rules=config.rule_sets[model.rules],
            owned_by=model.owned_by,
            created=model.created,
            routes=tuple(
                Route(r.carrier, r.model or model.name, r.price or model.price)
                for r in model.carriers
            ),
        )
        for model in config.models
    )
    return Catalog(specs, config.server.default_model)
