"""The admin API (``/admin/v1``) on SQLite and PostgreSQL: admin keys only (none: 401, a client
key: 403), the key lifecycle, teams, usage reports grouped each way, and the ledger as pages and
as CSV."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import respx

from tests.support.app import serve_in_process
from tests.support.config import UPSTREAM, MakeConfig
from tests.support.images import png_bytes

GENERATIONS = f"{UPSTREAM}/images/generations"
PNG = png_bytes((8, 8))
OK = httpx.Response(
    200,
    json={
        "created": 1,
        "size": "1024x1024",
        "usage": {"input_tokens": 10, "output_tokens": 100},
        "data": [{"b64_json": base64.b64encode(PNG).decode()}],
    },
)
FAILED = httpx.Response(
    400,
    json={
        "error": {"message": "no", "type": "invalid_request_error", "code": "moderation_blocked"}
    },
)
ADMIN = {"authorization": "Bearer adm-test-1"}
CLIENT = {"authorization": "Bearer gk-1"}


@pytest.fixture
async def admin(
    make_config: MakeConfig, upstream: respx.MockRouter, database_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    def edit(data: dict) -> None:
        data["database"] = {"url": database_url}
        data["auth"] = {"keys": ["gk-1"], "admin_keys": ["adm-test-1"]}
        data["ledger"] = {"flush_interval": 0.05}

    async with serve_in_process(make_config(edit)) as client:
        yield client


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/admin/v1/keys"),
        ("POST", "/admin/v1/keys"),
        ("GET", "/admin/v1/teams"),
        ("GET", "/admin/v1/usage"),
        ("GET", "/admin/v1/usage/records"),
        ("DELETE", "/admin/v1/keys/key_x"),
    ],
)
async def test_only_admin_keys_get_in(admin: httpx.AsyncClient, method: str, path: str) -> None:
    none = await admin.request(method, path)
    client_key = await admin.request(method, path, headers=CLIENT)
    wrong = await admin.request(method, path, headers={"authorization": "Bearer adm-test-2"})
    assert none.status_code == 401 and none.json()["error"]["code"] == "invalid_api_key"
    assert (
        client_key.status_code == 403 and client_key.json()["error"]["code"] == "admin_key_required"
    )
    assert wrong.status_code == 401
    ok = await admin.request(
        method, path, headers=ADMIN, json={"name": "n"} if method == "POST" else None
    )
    assert ok.status_code in (200, 201, 404), ok.text  # 404: the key of the DELETE does not exist


async def test_an_admin_key_is_not_a_client_key(admin: httpx.AsyncClient) -> None:
    response = await admin.post("/v1/images/generations", json={"prompt": "x"}, headers=ADMIN)
    assert response.status_code == 401


async def test_the_key_lifecycle(admin: httpx.AsyncClient) -> None:
    created = await admin.post(
        "/admin/v1/keys",
        headers=ADMIN,
        json={
            "name": "alice",
            "team": "design",
            "models": ["gi2"],
            "max_n": 4,
            "images_per_minute": 20,
            "budget_usd": 50,
            "budget_period": "month",
            "metadata": {"cost_center": "42"},
            "expires_at": "2030-01-01T00:00:00Z",
        },
    )
    assert created.status_code == 201, created.text
    key = created.json()
    secret = key["key"]
    assert secret.startswith("ig-") and created.headers["cache-control"] == "no-store"
    assert key["models"] == ["gpt-image-2"] and key["team"]["name"] == "design"
    assert key["budget_usd"] == 50 and key["budget_nanos"] == 50 * 10**9
    assert key["expires_at"] == 1893456000 and key["metadata"] == {"cost_center": "42"}
    listed = (await admin.get("/admin/v1/keys", headers=ADMIN)).json()
    assert [k["id"] for k in listed["data"]] == [key["id"]]
    assert secret not in str(listed) and "hash" not in str(listed)
    assert listed["data"][0]["prefix"] == secret[:10]
    one = (await admin.get(f"/admin/v1/keys/{key['id']}", headers=ADMIN)).json()
    assert one["name"] == "alice" and "key" not in one
    patched = await admin.patch(
        f"/admin/v1/keys/{key['id']}", headers=ADMIN, json={"max_n": None, "budget_usd": "12.345"}
    )
    assert patched.json()["max_n"] is None and patched.json()["budget_nanos"] == 12_345_000_000
    rotated = await admin.post(
        f"/admin/v1/keys/{key['id']}/rotate", headers=ADMIN, json={"grace_seconds": 60}
    )
    assert rotated.status_code == 200 and rotated.json()["key"] not in (secret, None)
    assert rotated.json()["previous_key_expires_at"] is not None
    revoked = await admin.delete(f"/admin/v1/keys/{key['id']}", headers=ADMIN)
    assert revoked.json()["status"] == "revoked"
    assert (await admin.get("/admin/v1/keys", headers=ADMIN)).json()["data"] == []
    again = await admin.post(f"/admin/v1/keys/{key['id']}/rotate", headers=ADMIN)
    assert again.status_code == 409


async def test_bad_input_is_a_400_in_the_envelope(admin: httpx.AsyncClient) -> None:
    for body, param in (
        ({"name": "x", "max_n": 0}, "max_n"),
        ({"name": "x", "models": ["nope"]}, "models"),
        ({"name": "x", "budget_period": "year"}, "budget_period"),
        ({"name": "x", "colour": 1}, "colour"),
        ({"name": "x", "team": "t" * 201}, "team"),
    ):
        response = await admin.post("/admin/v1/keys", headers=ADMIN, json=body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["error"]["param"] == param
    missing = await admin.get("/admin/v1/keys/key_nope", headers=ADMIN)
    assert missing.status_code == 404


async def test_teams_have_the_same_verbs(admin: httpx.AsyncClient) -> None:
    created = await admin.post(
        "/admin/v1/teams",
        headers=ADMIN,
        json={"name": "design", "budget_usd": "100", "max_concurrent": 8},
    )
    assert created.status_code == 201 and created.json()["budget_nanos"] == 100 * 10**9
    team_id = created.json()["id"]
    await admin.post("/admin/v1/keys", headers=ADMIN, json={"name": "alice", "team": "design"})
    assert (await admin.get(f"/admin/v1/teams/{team_id}", headers=ADMIN)).json()["keys"] == 1
    keys = (await admin.get("/admin/v1/keys", params={"team": "design"}, headers=ADMIN)).json()[
        "data"
    ]
    assert [k["name"] for k in keys] == ["alice"]
    patched = await admin.patch(
        f"/admin/v1/teams/{team_id}", headers=ADMIN, json={"max_concurrent": None}
    )
    assert patched.json()["max_concurrent"] is None
    refused = await admin.delete(f"/admin/v1/teams/{team_id}", headers=ADMIN)
    assert refused.status_code == 409
    assert (await admin.get("/admin/v1/teams", headers=ADMIN)).json()["data"][0]["name"] == "design"


async def traffic(admin: httpx.AsyncClient, upstream: respx.MockRouter) -> None:
    """Two requests that succeed with model gpt-image-2, one refused upstream with dall-e-3."""
    upstream.post(GENERATIONS).mock(
        side_effect=lambda request: FAILED if b"dall-e-3" in request.content else OK
    )
    for body in ({"prompt": "a"}, {"prompt": "b"}, {"prompt": "c", "model": "dall-e-3"}):
        await admin.post("/v1/images/generations", json=body, headers=CLIENT)
    for _ in range(200):
        records = (await admin.get("/admin/v1/usage/records", headers=ADMIN)).json()["data"]
        if len(records) == 3:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the ledger rows never arrived")


async def test_usage_grouped_each_way(admin: httpx.AsyncClient, upstream: respx.MockRouter) -> None:
    await traffic(admin, upstream)
    cost = 10 * 5_000 + 100 * 30_000  # nano-dollars per successful gpt-image-2 request

    async def report(**params: str) -> Any:
        response = await admin.get("/admin/v1/usage", params=params, headers=ADMIN)
        assert response.status_code == 200, response.text
        assert response.json()["object"] == "list"
        return response.json()["data"]

    [by_key] = await report(group_by="key")
    assert (
        by_key["key"]["id"].startswith("key_") and by_key["key"]["name"] == by_key["key"]["id"]
    )  # a config key
    assert (by_key["requests"], by_key["images"], by_key["errors"]) == (3, 2, 1)
    assert (
        by_key["pixels"] == 2 * 1024 * 1024
        and by_key["cost_nanos"] == 2 * cost
        and by_key["cost"] == 2 * cost / 1e9
    )
    [by_team] = await report(group_by="team")
    assert by_team == {**{k: v for k, v in by_key.items() if k != "key"}, "team": None}
    models = {
        item["model"]: (item["requests"], item["errors"]) for item in await report(group_by="model")
    }
    assert models == {"dall-e-3": (1, 1), "gpt-image-2": (2, 0)}
    carriers = {item["carrier"]: item["requests"] for item in await report(group_by="carrier")}
    assert carriers == {None: 1, "up": 2}
    [day] = await report(group_by="day")
    assert len(day["day"]) == 10 and day["requests"] == 3
    assert await report(group_by="day", since="2001-01-01", until="2001-01-31") == []
    assert [m["model"] for m in await report(group_by="model", model="dall-e-3")] == ["dall-e-3"]
    bad = await admin.get("/admin/v1/usage", params={"group_by": "colour"}, headers=ADMIN)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "group_by"


async def test_the_ledger_pages_with_a_cursor_and_exports_csv(
    admin: httpx.AsyncClient, upstream: respx.MockRouter
) -> None:
    await traffic(admin, upstream)
    first = (await admin.get("/admin/v1/usage/records", params={"limit": 2}, headers=ADMIN)).json()
    assert len(first["data"]) == 2 and first["has_more"]
    rest = (
        await admin.get(
            "/admin/v1/usage/records",
            params={"limit": 2, "cursor": first["next_cursor"]},
            headers=ADMIN,
        )
    ).json()
    assert len(rest["data"]) == 1 and not rest["has_more"] and rest["next_cursor"] is None
    ids = [r["id"] for r in first["data"] + rest["data"]]
    assert len(set(ids)) == 3
    exported = await admin.get("/admin/v1/usage/records", headers={**ADMIN, "accept": "text/csv"})
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(exported.text)))
    assert sorted(r["id"] for r in table) == sorted(ids)
    failed = [r for r in table if r["outcome"] == "failed"]
    assert (
        len(failed) == 1
        and failed[0]["error_code"] == "moderation_blocked"
        and failed[0]["cost_nanos"] == ""
    )
    assert {r["stream"] for r in table} == {"false"} and table[0]["time"].startswith("20")
