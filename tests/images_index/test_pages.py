"""Listing page by page: newest first, stable keyset pages on (created, id) even with equal
times and images arriving between pages; ``limit`` and ``cursor`` refused with a 400 naming
the parameter when they are not right (a cursor edited or taken from another list)."""

from __future__ import annotations

import base64
from datetime import timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.images_index.helpers import add_images, keyed, now
from tests.support.config import MakeConfig
from tests.support.keys import add_key, bearer, serve_with_database


async def all_pages(
    client: httpx.AsyncClient, secret: str, limit: int, between: object = None
) -> tuple[list[str], list[dict]]:
    ids: list[str] = []
    pages: list[dict] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        response = await client.get("/v1/images", params=params, headers=bearer(secret))
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page)
        ids.extend(item["id"] for item in page["data"])
        if between is not None:
            await between()  # type: ignore[operator]
        cursor = page["next_cursor"]
        assert page["has_more"] is (cursor is not None)
        if cursor is None:
            return ids, pages


async def test_pages_are_newest_first_and_never_skip_or_repeat(
    make_config: MakeConfig, engine: AsyncEngine
) -> None:
    alice_id, alice = await add_key(engine, "alice")
    bob_id, _ = await add_key(engine, "bob")
    start = now() - timedelta(hours=1)
    # 45 images over 15 distinct times (three at each: ties broken by id), bob's in between
    moments = [start + timedelta(seconds=i // 3) for i in range(45)]
    mine = await add_images(engine, alice_id, moments)
    await add_images(engine, bob_id, moments[:10])
    made = dict(zip(mine, moments, strict=True))

    async def newer_image_arrives() -> None:  # after the first page: never shows up later
        await add_images(engine, alice_id, [now()])

    async with serve_with_database(make_config(keyed), engine) as client:
        ids, pages = await all_pages(client, alice, 20, newer_image_arrives)
        assert [len(page["data"]) for page in pages] == [20, 20, 5]
        assert sorted(ids) == sorted(mine)  # each once (ties are in the database's id order)
        assert [made[i] for i in ids] == sorted(moments, reverse=True)
        first = (await client.get("/v1/images", headers=bearer(alice))).json()
        assert len(first["data"]) == 20 and first["has_more"]  # default limit 20
        assert first["data"][0]["created"] > pages[0]["data"][0]["created"]  # the new ones


async def test_expired_and_deleted_images_are_not_listed(
    make_config: MakeConfig, engine: AsyncEngine
) -> None:
    key_id, secret = await add_key(engine, "alice")
    [live] = await add_images(engine, key_id, [now()], expires_at=now() + timedelta(hours=1))
    await add_images(engine, key_id, [now()], expires_at=now() - timedelta(seconds=1))
    [gone] = await add_images(engine, key_id, [now()], deleted_at=now())
    async with serve_with_database(make_config(keyed), engine) as client:
        listed = (await client.get("/v1/images", headers=bearer(secret))).json()["data"]
        assert [item["id"] for item in listed] == [live]
        assert (await client.get(f"/v1/images/{gone}", headers=bearer(secret))).status_code == 404


def tampered(cursor: str) -> list[str]:
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    flipped = raw[:-1] + bytes([raw[-1] ^ 1])  # one bit of the position
    check = bytes([raw[0] ^ 1]) + raw[1:]  # one bit of the check
    encode = lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")  # noqa: E731
    return [encode(flipped), encode(check), cursor[:-3], cursor + "A", "not a cursor", "%%%",
            "A" * 500, encode(b"\x00" * 8 + b"99999999999999999999999:abc")]  # fmt: skip


async def test_a_bad_limit_or_cursor_is_a_400_naming_it(
    make_config: MakeConfig, engine: AsyncEngine
) -> None:
    alice_id, alice = await add_key(engine, "alice")
    bob_id, bob = await add_key(engine, "bob")
    await add_images(engine, alice_id, [now() - timedelta(seconds=i) for i in range(3)])
    await add_images(engine, bob_id, [now() - timedelta(seconds=i) for i in range(3)])
    async with serve_with_database(make_config(keyed), engine) as client:

        async def listing(secret: str, **params: str) -> httpx.Response:
            return await client.get("/v1/images", params=params, headers=bearer(secret))

        for limit in ("0", "101", "-1", "ten", "1.5", ""):
            response = await listing(alice, limit=limit)
            assert response.status_code == 400, limit
            assert response.json()["error"]["param"] == "limit"
        cursor = (await listing(alice, limit="1")).json()["next_cursor"]
        bobs = (await listing(bob, limit="1")).json()["next_cursor"]
        assert (await listing(alice, cursor=cursor)).status_code == 200
        for bad in [*tampered(cursor), bobs]:
            response = await listing(alice, cursor=bad)
            assert response.status_code == 400, bad
            assert response.json()["error"]["param"] == "cursor"
        # a cursor is bound to its filter too
        response = await listing(alice, cursor=cursor, request_id="req-x")
        assert response.status_code == 400
        response = await listing(alice, request_id="x" * 65)
        assert (response.status_code, response.json()["error"]["param"]) == (400, "request_id")


@pytest.mark.parametrize("limit", [1, 7, 100])
async def test_any_limit_walks_the_whole_list(
    make_config: MakeConfig, engine: AsyncEngine, limit: int
) -> None:
    key_id, secret = await add_key(engine, "alice")
    same = now()
    mine = await add_images(engine, key_id, [same] * 12)  # all at the same moment
    async with serve_with_database(make_config(keyed), engine) as client:
        ids, _ = await all_pages(client, secret, limit)
    assert sorted(ids) == sorted(mine) and len(ids) == len(set(ids))
