"""The shipped Grafana dashboard references only metrics the gateway exposes."""

from __future__ import annotations

import json
import re

from prometheus_client.parser import text_string_to_metric_families

from tests.support.app import serve_in_process
from tests.support.config import ROOT, MakeConfig

DASHBOARD = ROOT / "deploy" / "grafana" / "imagegate.json"
NAME = re.compile(r"\bimagegate_[a-z_]+")
SUFFIXES = ("", "_total", "_bucket", "_count", "_sum")


def expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


async def exposed(make_config: MakeConfig) -> set[str]:
    """Every metric family /metrics declares, with the sample names each family may have."""
    async with serve_in_process(make_config()) as client:
        text = (await client.get("/metrics")).text
    families = {family.name for family in text_string_to_metric_families(text)}
    return {name + suffix for name in families for suffix in SUFFIXES}


async def test_every_metric_in_the_dashboard_exists(make_config: MakeConfig) -> None:
    names = {name for expr in expressions() for name in NAME.findall(expr)}
    assert len(names) >= 12  # the parse found the dashboard's metrics
    assert names - await exposed(make_config) == set()


async def test_the_check_catches_a_misspelt_metric(make_config: MakeConfig) -> None:
    assert "imagegate_image_total" not in await exposed(make_config)
    assert "imagegate_images_total" in await exposed(make_config)


def test_the_dashboard_shows_what_operators_ask_for() -> None:
    text = " ".join(expressions())
    needed = ["imagegate_images_total", "histogram_quantile", "imagegate_fallbacks_total"]
    needed += ["imagegate_cost_usd_total", "imagegate_budget_remaining_usd", 'outcome="failed"']
    assert all(part in text for part in needed)
