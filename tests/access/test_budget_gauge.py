"""``imagegate_budget_remaining_usd{team}``: fed after each ledger write that charged a team,
read with Prometheus' parser after known traffic; only with team labels opted in (a team is a
label value only then), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64

import httpx
import respx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.config import UPSTREAM, MakeConfig
from tests.support.images import png_bytes
from tests.support.keys import add_key, add_team, bearer, serve_with_database, settled
from tests.support.waiting import poll_until

GENERATIONS = f"{UPSTREAM}/images/generations"
IMAGE = {"b64_json": base64.b64encode(png_bytes((16, 16))).decode()}
DALLE = {"model": "dall-e-3", "prompt": "a fox", "quality": "standard"}  # 0.04 USD an image
PRICE = 40_000_000
GAUGE = "imagegate_budget_remaining_usd"


def gauges(text: str) -> dict[str, float]:
    return {
        sample.labels["team"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == GAUGE
    }


async def traffic(client: httpx.AsyncClient, secrets: list[str], engine: AsyncEngine) -> None:
    for secret in secrets:
        answer = await client.post("/v1/images/generations", json=DALLE, headers=bearer(secret))
        assert answer.status_code == 200, answer.text
    await settled(engine)


async def test_each_teams_budget_left_after_known_traffic(
    make_config: MakeConfig, upstream: respx.MockRouter, engine: AsyncEngine
) -> None:
    upstream.post(GENERATIONS).mock(
        return_value=httpx.Response(200, json={"created": 1, "data": [IMAGE]})
    )
    design = await add_team(engine, "design", budget_nanos=10 * PRICE)
    ops = await add_team(engine, "ops", budget_nanos=5 * PRICE)
    _, alice = await add_key(engine, "alice", team=design)
    _, bob = await add_key(engine, "bob", team=design, budget_nanos=PRICE * 3)
    _, carol = await add_key(engine, "carol", team=ops)
    _, solo = await add_key(engine, "solo", budget_nanos=PRICE * 3)  # no team: no sample
    config = make_config(auth={"budget_sync_interval": 0.02}, metrics={"label_keys": True})
    async with serve_with_database(config, engine) as client:
        await traffic(client, [alice, bob, alice, carol, solo], engine)
        expected = {design: 0.28, ops: 0.16}  # 0.40 - 3 x 0.04, 0.20 - 0.04
        metrics = await poll_until(  # the ledger writes within its flush interval
            lambda: client.get("/metrics"),
            lambda r: gauges(r.text) == expected,
            what=f"the gauges reach {expected}",
        )
    assert gauges(metrics.text) == expected


async def test_no_team_label_unless_the_operator_opts_in(
    make_config: MakeConfig, upstream: respx.MockRouter, engine: AsyncEngine
) -> None:
    upstream.post(GENERATIONS).mock(
        return_value=httpx.Response(200, json={"created": 1, "data": [IMAGE]})
    )
    design = await add_team(engine, "design", budget_nanos=10 * PRICE)
    _, alice = await add_key(engine, "alice", team=design)
    config = make_config(auth={"budget_sync_interval": 0.02})
    async with serve_with_database(config, engine) as client:
        await traffic(client, [alice], engine)
        await asyncio.sleep(0.3)  # past the ledger's flush
        text = (await client.get("/metrics")).text
    assert gauges(text) == {} and design not in text
