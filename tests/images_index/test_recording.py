"""What gets a record and what it says: every stored image (URL or ``b64_json`` answers),
nothing for ``b64_ephemeral``; its expiry from the key's, the team's or the deployment's
retention; its prompt unless prompts are not stored; and whose it is for config-file keys
and for a gateway without keys."""

from __future__ import annotations

from typing import Any

import pytest
import respx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.models import UsageRecord as UsageRow
from tests.images_index.helpers import FLUSH, GENERATIONS, OK, indexed, keyed, records
from tests.support.app import serve_in_process
from tests.support.config import MakeConfig
from tests.support.keys import add_key, add_team, bearer, serve_with_database
from tests.support.waiting import eventually

DAY = 86_400


def retained(retention: str, **ledger: Any):
    def edit(data: dict[str, Any]) -> None:
        keyed(data)
        data["storage"]["retention"] = retention
        data["ledger"].update(ledger)

    return edit


async def one(client: Any, secret: str, request_id: str, **body: Any) -> dict[str, Any]:
    response = await client.post(
        "/v1/images/generations",
        json={"prompt": "a red fox", **body},
        headers={**bearer(secret), "x-request-id": request_id},
    )
    assert response.status_code == 200, response.text
    [item] = await indexed(client, bearer(secret), request_id)
    return item


async def usage_written(engine: AsyncEngine, request_id: str) -> bool:
    async with engine.connect() as connection:
        found = select(UsageRow.id).where(UsageRow.request_id == request_id)
        return (await connection.execute(found)).first() is not None


async def test_expiry_comes_from_the_key_then_its_team_then_the_deployment(
    make_config: MakeConfig, upstream: respx.MockRouter, engine: AsyncEngine
) -> None:
    upstream.post(GENERATIONS).mock(return_value=OK)
    team = await add_team(engine, "design", retention_seconds=7 * DAY)
    _, plain = await add_key(engine, "plain")
    _, hourly = await add_key(engine, "hourly", retention_seconds=3600)
    _, forever = await add_key(engine, "forever", retention_seconds=0)
    _, member = await add_key(engine, "member", team=team)
    _, own = await add_key(engine, "own", team=team, retention_seconds=60)
    async with serve_with_database(make_config(retained("30d")), engine) as client:
        for secret, ttl in ((plain, 30 * DAY), (hourly, 3600), (member, 7 * DAY), (own, 60)):
            item = await one(client, secret, f"req-{ttl}")
            assert abs(item["expires_at"] - item["created"] - ttl) <= 1, (item, ttl)
        assert (await one(client, forever, "req-forever"))["expires_at"] is None


async def test_b64_json_is_recorded_and_b64_ephemeral_is_not(
    make_config: MakeConfig, upstream: respx.MockRouter, engine: AsyncEngine
) -> None:
    upstream.post(GENERATIONS).mock(return_value=OK)
    _, secret = await add_key(engine, "alice")
    async with serve_with_database(make_config(keyed), engine) as client:
        kept = await one(client, secret, "req-b64", response_format="b64_json")
        assert kept["format"] == "png"
        response = await client.post(
            "/v1/images/generations",
            json={"prompt": "x", "response_format": "b64_ephemeral"},
            headers={**bearer(secret), "x-request-id": "req-ephemeral"},
        )
        assert response.status_code == 200 and "b64_json" in response.json()["data"][0]
        # its usage row commits with any image rows it has: once it is there, so would they be
        await eventually(lambda: usage_written(engine, "req-ephemeral"), what="the usage row")
        listed = (await client.get("/v1/images", headers=bearer(secret))).json()["data"]
    assert [item["request_id"] for item in listed] == ["req-b64"]
    assert [row.request_id for row in await records(engine)] == ["req-b64"]


async def test_prompts_are_not_kept_when_the_ledger_keeps_none(
    make_config: MakeConfig, upstream: respx.MockRouter, engine: AsyncEngine
) -> None:
    upstream.post(GENERATIONS).mock(return_value=OK)
    _, secret = await add_key(engine, "alice")
    config = make_config(retained("0", store_prompts=False))
    async with serve_with_database(config, engine) as client:
        item = await one(client, secret, "req-secret", prompt="secret plans")
    assert item["prompt"] is None and item["expires_at"] is None
    [row] = await records(engine)
    assert row.prompt is None and row.backend == "local"


async def test_config_file_keys_own_their_images(
    make_config: MakeConfig, upstream: respx.MockRouter, engine: AsyncEngine
) -> None:
    upstream.post(GENERATIONS).mock(return_value=OK)
    _, secret = await add_key(engine, "alice")
    async with serve_with_database(make_config(keyed), engine) as client:
        item = await one(client, "gk-config", "req-config")
        [row] = await records(engine)
        assert row.key_id.startswith("key_") and row.key_id != "open"
        assert (await client.get("/v1/images", headers=bearer(secret))).json()["data"] == []
        path = f"/v1/images/{item['id']}"
        assert (await client.get(path, headers=bearer(secret))).status_code == 404
        assert (await client.get(path, headers=bearer("gk-config"))).json() == item


@pytest.mark.respx(assert_all_called=True)
async def test_an_open_gateway_lists_the_anonymous_callers_images(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> None:
    upstream.post(GENERATIONS).mock(return_value=OK)
    config = make_config(lambda data: data.update(ledger={"flush_interval": FLUSH}))
    async with serve_in_process(config) as client:
        item = await one(client, "anything", "req-open")
        listed = (await client.get("/v1/images")).json()["data"]  # no key at all
        assert [i["id"] for i in listed] == [item["id"]]
        assert (await client.delete(f"/v1/images/{item['id']}")).json()["deleted"] is True
