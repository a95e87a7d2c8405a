"""``/v1/images`` and ``/admin/v1/images`` on SQLite and PostgreSQL: a generation's answer and
its ``x-request-id`` lead to its record; keys see only their own images; delete removes the
bytes and is idempotent; admins list by key and team."""

from __future__ import annotations

import httpx
import pytest
import respx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.images_index.helpers import ADMIN, GENERATIONS, OK, PNG, indexed, keyed
from tests.support.config import MakeConfig
from tests.support.keys import add_key, add_team, bearer, serve_with_database

FIELDS = {"id", "object", "request_id", "url", "url_expires_at", "created", "expires_at",
          "format", "width", "height", "bytes", "model", "prompt"}  # fmt: skip


async def generate(
    client: httpx.AsyncClient, headers: dict[str, str], request_id: str, **body: object
) -> httpx.Response:
    response = await client.post(
        "/v1/images/generations",
        json={"prompt": "a red fox", **body},
        headers={**headers, "x-request-id": request_id},
    )
    assert response.status_code == 200, response.text
    return response


async def test_an_answer_and_its_request_id_lead_to_the_record(
    make_config: MakeConfig, upstream: respx.MockRouter, engine: AsyncEngine
) -> None:
    upstream.post(GENERATIONS).mock(return_value=OK)
    _, secret = await add_key(engine, "alice")
    async with serve_with_database(make_config(keyed), engine) as client:
        answer = await generate(client, bearer(secret), "req-fox-1")
        url = answer.json()["data"][0]["url"]
        [item] = await indexed(client, bearer(secret), "req-fox-1")
        assert set(item) == FIELDS
        assert url == item["url"] and url.endswith(f"/images/{item['id']}.png")
        assert item["object"] == "image" and item["request_id"] == "req-fox-1"
        assert (item["format"], item["width"], item["height"], item["bytes"]) == (
            "png", 16, 12, len(PNG),
        )  # fmt: skip
        assert (item["model"], item["prompt"], item["expires_at"]) == (
            "gpt-image-2",
            "a red fox",
            None,
        )
        assert abs(item["created"] - answer.json()["created"]) <= 1
        one = await client.get(f"/v1/images/{item['id']}", headers=bearer(secret))
        assert one.status_code == 200 and one.json() == item
        listed = (await client.get("/v1/images", headers=bearer(secret))).json()
        assert listed == {"object": "list", "data": [item], "has_more": False, "next_cursor": None}


async def test_a_key_never_sees_another_keys_image(
    make_config: MakeConfig, upstream: respx.MockRouter, engine: AsyncEngine
) -> None:
    upstream.post(GENERATIONS).mock(return_value=OK)
    _, alice = await add_key(engine, "alice")
    _, bob = await add_key(engine, "bob")
    async with serve_with_database(make_config(keyed), engine) as client:
        await generate(client, bearer(alice), "req-alice")
        [item] = await indexed(client, bearer(alice), "req-alice")
        path = f"/v1/images/{item['id']}"
        assert (await client.get("/v1/images", headers=bearer(bob))).json()["data"] == []
        for method in ("GET", "DELETE"):
            response = await client.request(method, path, headers=bearer(bob))
            error = response.json()["error"]
            assert response.status_code == 404 and error["code"] == "not_found"
            unknown = await client.request(method, "/v1/images/" + "A" * 22, headers=bearer(bob))
            assert unknown.status_code == 404
            assert (
                unknown.json()["error"]["message"].replace("A" * 22, item["id"]) == error["message"]
            )
        # bob's attempted delete changed nothing
        assert (await client.get(item["url"])).content == PNG
        assert (await client.get(path, headers=bearer(alice))).status_code == 200


async def test_delete_removes_the_bytes_and_answers_the_same_again(
    make_config: MakeConfig, upstream: respx.MockRouter, engine: AsyncEngine
) -> None:
    upstream.post(GENERATIONS).mock(return_value=OK)
    _, secret = await add_key(engine, "alice")
    async with serve_with_database(make_config(keyed), engine) as client:
        await generate(client, bearer(secret), "req-del")
        [item] = await indexed(client, bearer(secret), "req-del")
        path = f"/v1/images/{item['id']}"
        assert (await client.get(item["url"])).status_code == 200
        for _ in range(2):
            deleted = await client.delete(path, headers=bearer(secret))
            assert deleted.status_code == 200
            assert deleted.json() == {"id": item["id"], "object": "image", "deleted": True}
        assert (await client.get(item["url"])).status_code == 404
        assert (await client.get(path, headers=bearer(secret))).status_code == 404
        assert (await client.get("/v1/images", headers=bearer(secret))).json()["data"] == []


async def test_admins_list_by_key_and_by_team(
    make_config: MakeConfig, upstream: respx.MockRouter, engine: AsyncEngine
) -> None:
    upstream.post(GENERATIONS).mock(return_value=OK)
    team = await add_team(engine, "design")
    alice_id, alice = await add_key(engine, "alice", team=team)
    bob_id, bob = await add_key(engine, "bob", team=team)
    carol_id, carol = await add_key(engine, "carol")
    async with serve_with_database(make_config(keyed), engine) as client:
        for name, secret in (("alice", alice), ("bob", bob), ("carol", carol)):
            await generate(client, bearer(secret), f"req-{name}")
            await indexed(client, bearer(secret), f"req-{name}")

        async def admin_list(**params: str) -> list[dict]:
            response = await client.get("/admin/v1/images", params=params, headers=ADMIN)
            assert response.status_code == 200, response.text
            data: list[dict] = response.json()["data"]
            return data

        by_team = await admin_list(team_id=team)
        assert {item["key_id"] for item in by_team} == {alice_id, bob_id}
        assert all(item["team_id"] == team and item["backend"] == "local" for item in by_team)
        [by_key] = await admin_list(key_id=carol_id)
        assert by_key["request_id"] == "req-carol" and by_key["team_id"] is None
        assert len(await admin_list()) == len(await admin_list(key_id="", team_id="")) == 3
        assert await admin_list(key_id=alice_id, team_id="team_other") == []
        assert (await client.get("/admin/v1/images", headers=bearer(alice))).status_code == 403
        for param in ("key_id", "team_id", "request_id"):
            for hostile in ("\x00", "x" * 65, "é", "a b"):
                response = await client.get(
                    "/admin/v1/images", params={param: hostile}, headers=ADMIN
                )
                assert response.status_code == 400, (param, hostile)
                assert response.json()["error"]["param"] == param
        assert (await client.get("/admin/v1/images")).status_code == 401


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v1/images/generations", 405),
        ("GET", "/v1/images/edits", 405),
        ("DELETE", "/v1/images/generations", 405),
        ("GET", "/v1/images/not-an-image-id", 404),
        ("DELETE", "/v1/images/" + "x" * 23, 404),
    ],
)
async def test_neighbouring_paths_keep_their_answers(
    client: httpx.AsyncClient, method: str, path: str, status: int
) -> None:
    response = await client.request(method, path)
    assert response.status_code == status
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}
