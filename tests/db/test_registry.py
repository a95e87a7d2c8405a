"""The key and team registry on SQLite and PostgreSQL: secrets handed out once and stored only
as hashes, rotation with a grace period, revocation, teams made on first use, exact budgets."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.access.fields import KeyCreate, KeyUpdate, TeamCreate, TeamUpdate
from app.access.registry import Registry
from app.db.models import ApiKey
from app.errors import Conflict, InvalidRequest, NotFound

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ALIASES = {"gi2": "gpt-image-2", "gpt-image-2": "gpt-image-2", "gpt-image-1.5": "gpt-image-1.5"}


def resolve(name: str) -> str:
    if name not in ALIASES:
        raise NotFound(f"no model {name}")
    return ALIASES[name]


@pytest.fixture
def registry(engine: AsyncEngine) -> Registry:
    return Registry(engine, resolve_model=resolve, clock=lambda: NOW)


async def test_a_new_key_shows_its_secret_once_and_stores_only_its_hash(
    registry: Registry, engine: AsyncEngine
) -> None:
    view, secret = await registry.create_key(
        KeyCreate(
            name="alice",
            team="design",
            models=["gi2", "gpt-image-1.5"],
            max_n=4,
            images_per_minute=20,
            budget_usd="50",
            budget_period="month",
        )
    )
    assert re.fullmatch(r"ig-[A-Za-z0-9_-]{32}", secret)  # 192 random bits
    shown = view.as_json(NOW)
    assert shown["prefix"] == secret[:10] and "key" not in shown
    assert shown["models"] == ["gpt-image-2", "gpt-image-1.5"]  # aliases resolved
    assert shown["budget_nanos"] == 50_000_000_000 and shown["budget_usd"] == 50
    assert (shown["max_n"], shown["images_per_minute"], shown["status"]) == (4, 20, "active")
    assert shown["team"]["name"] == "design"  # made on first use
    async with engine.connect() as connection:
        dump = " ".join(
            str(row) for row in (await connection.execute(text("SELECT * FROM api_keys"))).all()
        )
        stored = (await connection.execute(select(ApiKey.key_hash))).scalar_one()
    assert stored == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in dump and secret[10:] not in dump


async def test_listing_and_lookup_by_id_or_name(registry: Registry) -> None:
    alice, _ = await registry.create_key(KeyCreate(name="alice", team="design"))
    await registry.create_key(KeyCreate(name="bob"))
    assert sorted(k.name for k in await registry.list_keys()) == ["alice", "bob"]  # one clock tick
    assert [k.name for k in await registry.list_keys(team="design")] == ["alice"]
    assert (await registry.get_key("alice")).id == alice.id == (await registry.get_key(alice.id)).id
    with pytest.raises(Conflict):
        await registry.create_key(KeyCreate(name="alice"))
    with pytest.raises(NotFound):
        await registry.get_key("carol")
    with pytest.raises(InvalidRequest):
        await registry.create_key(KeyCreate(name="carol", models=["no-such-model"]))


async def test_an_update_changes_only_what_it_names_and_null_clears_a_limit(
    registry: Registry,
) -> None:
    key, _ = await registry.create_key(KeyCreate(name="alice", max_n=4, budget_usd="10.5"))
    updated = await registry.update_key("alice", KeyUpdate(max_n=None, requests_per_minute=30))
    shown = updated.as_json(NOW)
    assert (shown["max_n"], shown["requests_per_minute"]) == (None, 30)
    assert shown["budget_nanos"] == 10_500_000_000  # untouched
    moved = await registry.update_key(key.id, KeyUpdate(team="ops", name="alice2"))
    assert moved.team is not None and moved.team.name == "ops" and moved.name == "alice2"


async def test_rotation_keeps_the_old_secret_for_the_grace_period(
    registry: Registry, engine: AsyncEngine
) -> None:
    key, old = await registry.create_key(KeyCreate(name="alice"))
    rotated, new = await registry.rotate_key("alice", grace_seconds=3600)
    assert new != old and rotated.prefix == new[:10]
    assert rotated.as_json(NOW)["previous_key_expires_at"] == int(
        (NOW + timedelta(hours=1)).timestamp()
    )
    async with engine.connect() as connection:
        row = (await connection.execute(select(ApiKey).where(ApiKey.id == key.id))).one()
    assert row.key_hash == hashlib.sha256(new.encode()).hexdigest()
    assert row.previous_hash == hashlib.sha256(old.encode()).hexdigest()
    assert row.previous_expires_at == NOW + timedelta(hours=1)


async def test_a_revoked_key_is_listed_only_on_request_and_cannot_be_rotated(
    registry: Registry,
) -> None:
    key, _ = await registry.create_key(KeyCreate(name="alice"))
    revoked = await registry.revoke_key("alice")
    assert revoked.as_json(NOW)["status"] == "revoked" and revoked.revoked_at == NOW
    assert await registry.list_keys() == []
    assert [k.id for k in await registry.list_keys(revoked=True)] == [key.id]
    with pytest.raises(Conflict):
        await registry.rotate_key(key.id, grace_seconds=0)
    again, _ = await registry.create_key(KeyCreate(name="alice"))  # the name is free again
    assert again.id != key.id


async def test_teams_have_the_same_verbs_and_keep_their_keys(registry: Registry) -> None:
    team = await registry.create_team(TeamCreate(name="design", budget_usd="0.000000001"))
    assert team.as_json(NOW)["budget_nanos"] == 1
    with pytest.raises(Conflict):
        await registry.create_team(TeamCreate(name="design"))
    await registry.create_key(KeyCreate(name="alice", team="design"))
    updated = await registry.update_team("design", TeamUpdate(max_concurrent=2, name="studio"))
    assert (updated.name, updated.keys, updated.policy["max_concurrent"]) == ("studio", 1, 2)
    with pytest.raises(Conflict):
        await registry.delete_team("studio")  # it still has a key
    await registry.revoke_key("alice")
    deleted = await registry.delete_team(team.id)
    assert deleted.as_json(NOW)["status"] == "deleted"
    assert await registry.list_teams() == [] and len(await registry.list_teams(deleted=True)) == 1
