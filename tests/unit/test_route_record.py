"""The Route record: built once at start-up, carrying everything an attempt needs."""

from __future__ import annotations

from typing import Any

from app.config.rules import apply_overrides
from app.core.catalog import build_catalog
from app.core.routing import candidates
from tests.support.config import MakeConfig
from tests.support.rules import RULES, job


def reseller(data: dict[str, Any]) -> None:
    data["carriers"].append(
        {
            "name": "reseller",
            "kind": "openai",
            "base_url": "http://reseller.test/v1",
            "timeout": 42,
            "retries": 3,
            "edit": {"max_images": 4, "mask": False, "image_formats": ["png", "webp"]},
        }
    )
    data["models"][1]["carriers"] = [
        {"carrier": "up"},
        {
            "carrier": "reseller",
            "model": "gi1-resold",
            "tier": 2,
            "weight": 3,
            "overrides": {"qualities": ["auto", "low"], "edit": {"max_images": 8}},
        },
    ]


def test_a_route_carries_its_carrier_settings_and_effective_rules(
    make_config: MakeConfig,
) -> None:
    catalog = build_catalog(make_config(reseller))
    direct, resold = catalog.resolve("gpt-image-1").routes
    model_rules = RULES["gpt-image-1"]
    assert direct.rules == model_rules  # a carrier that serves every edit changes nothing
    assert (direct.timeout, direct.retries) == (5, 1)
    assert (resold.carrier, resold.upstream_model, resold.tier, resold.weight) == (
        "reseller",
        "gi1-resold",
        2,
        3,
    )
    assert (resold.timeout, resold.retries) == (42, 3)
    overridden = apply_overrides(model_rules, {"qualities": ["auto", "low"]})
    assert resold.rules.qualities == overridden.qualities
    assert resold.rules.edit is not None and model_rules.edit is not None
    # the route's overrides (8) intersected with the carrier's edit support (4)
    assert resold.rules.edit.max_images == 4
    assert resold.rules.edit.mask is False
    assert resold.rules.edit.image_formats == ("png", "webp")
    assert resold.rules.edit.max_image_bytes == model_rules.edit.max_image_bytes


def test_routing_uses_the_routes_built_at_start_up(make_config: MakeConfig) -> None:
    spec = build_catalog(make_config(reseller)).resolve("gpt-image-1")
    able = candidates(job("gpt-image-1", quality="low"), spec, {"up", "reseller"})
    assert all(any(route is built for built in spec.routes) for route in able)
    assert [route.carrier for route in able] == ["up", "reseller"]
    high = candidates(job("gpt-image-1", quality="high"), spec, {"up", "reseller"})
    assert [route.carrier for route in high] == ["up"]
