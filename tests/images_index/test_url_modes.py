"""A key's (or its team's) ``url_mode`` decides how its image URLs are minted, in generation
answers and in the index alike; keys without one get the deployment's ``storage.url_mode``."""

from __future__ import annotations

import respx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.images_index.helpers import GENERATIONS, OK, PNG, indexed, keyed
from tests.support.config import MakeConfig
from tests.support.keys import add_key, add_team, bearer, serve_with_database


async def test_a_keys_url_mode_overrides_the_deployments(
    make_config: MakeConfig, upstream: respx.MockRouter, engine: AsyncEngine
) -> None:
    upstream.post(GENERATIONS).mock(return_value=OK)
    team = await add_team(engine, "design", url_mode="signed")
    _, plain = await add_key(engine, "plain")
    _, member = await add_key(engine, "member", team=team)
    _, public = await add_key(engine, "public", team=team, url_mode="public")
    async with serve_with_database(make_config(keyed), engine) as client:
        for secret, request_id, signed in (
            (plain, "r-plain", False), (member, "r-member", True), (public, "r-public", False),
        ):  # fmt: skip
            answer = await client.post(
                "/v1/images/generations",
                json={"prompt": "x"},
                headers={**bearer(secret), "x-request-id": request_id},
            )
            [item] = answer.json()["data"]
            [record] = await indexed(client, bearer(secret), request_id)
            assert ("sig=" in item["url"]) is signed and ("sig=" in record["url"]) is signed
            assert ("expires_at" in item) is signed
            assert (record["url_expires_at"] is not None) is signed
            fetched = await client.get(record["url"])
            assert fetched.status_code == 200 and fetched.content == PNG
        listed = await client.get(
            "/admin/v1/images", headers={"authorization": "Bearer adm-index-1"}
        )
        assert all("sig=" not in i["url"] for i in listed.json()["data"])  # the deployment's


async def test_unknown_modes_fall_back_to_the_deployments(
    make_config: MakeConfig, upstream: respx.MockRouter, engine: AsyncEngine
) -> None:
    upstream.post(GENERATIONS).mock(return_value=OK)
    _, odd = await add_key(engine, "odd", url_mode="cdn")  # written around the admin API
    async with serve_with_database(make_config(keyed), engine) as client:
        answer = await client.post(
            "/v1/images/generations", json={"prompt": "x"}, headers=bearer(odd)
        )
        assert answer.status_code == 200 and "sig=" not in answer.json()["data"][0]["url"]
