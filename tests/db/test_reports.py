"""Usage reports on SQLite and PostgreSQL, from ledger rows written as the sink writes them:
totals per key, team (named from their tables), model, carrier and UTC day, exact sums in
nano-dollars, and filters by time, key, team and model."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from app.access.fields import KeyCreate
from app.access.registry import Registry
from app.db.models import UsageRecord
from app.domain import UsageRecord as Record
from app.errors import InvalidRequest
from app.usage.ledger import usage_row
from app.usage.reports import Reports, UsageFilter, moment, usage_filter


def row(
    key: str,
    team: str | None,
    model: str,
    carrier: str | None,
    when: datetime,
    *,
    images: int = 1,
    cost: int | None = 1,
    failed: bool = False,
) -> dict:
    record = Record(
        "req",
        key,
        key,
        model,
        "generate",
        "failed" if failed else "succeeded",
        carrier=carrier,
        images=images,
        pixels=images * 100,
        team=team,
        cost_nanos=cost,
        created_at=when.timestamp(),
    )
    return usage_row(record)


@pytest.fixture
async def ledger(engine: AsyncEngine) -> tuple[Reports, str, str]:
    registry = Registry(engine)
    alice, _ = await registry.create_key(KeyCreate(name="alice", team="design"))
    bob, _ = await registry.create_key(KeyCreate(name="bob"))
    assert alice.team is not None
    team = alice.team.id
    late_31st = datetime(2026, 10, 31, 23, 59, 59, tzinfo=UTC)
    first = datetime(2026, 11, 1, 0, 0, 0, tzinfo=UTC)
    rows = [
        row(alice.id, team, "gpt-image-2", "openai", late_31st, images=2, cost=1_000_000_001),
        row(alice.id, team, "gpt-image-2", "local", first, cost=0),
        row(bob.id, None, "dall-e-3", "openai", first, images=4, cost=160_000_000),
        row(bob.id, None, "dall-e-3", None, first, images=0, cost=None, failed=True),
        row("key_0123456789abcdef", None, "gpt-image-2", "openai", first, cost=7),
    ]
    async with engine.begin() as connection:
        await connection.execute(insert(UsageRecord), rows)
    return Reports(engine), alice.id, bob.id


def totals(data: list[dict], field: str) -> dict:
    return {
        str(item[field]): (item["requests"], item["images"], item["cost_nanos"], item["errors"])
        for item in data
    }


async def test_grouped_each_way(ledger: tuple[Reports, str, str]) -> None:
    reports, alice, bob = ledger
    everything = UsageFilter()
    by_key = await reports.summary("key", everything)
    names = {item["key"]["id"]: item["key"]["name"] for item in by_key}
    assert names == {alice: "alice", bob: "bob", "key_0123456789abcdef": "key_0123456789abcdef"}
    assert {
        names[i["key"]["id"]]: (
            i["requests"],
            i["images"],
            i["pixels"],
            i["cost_nanos"],
            i["errors"],
        )
        for i in by_key
    } == {
        "alice": (2, 3, 300, 1_000_000_001, 0),
        "bob": (2, 4, 400, 160_000_000, 1),
        "key_0123456789abcdef": (1, 1, 100, 7, 0),
    }
    alice_cost = next(i for i in by_key if i["key"]["id"] == alice)["cost"]
    assert alice_cost == 1.000000001
    by_team = await reports.summary("team", everything)
    assert [(i["team"] and i["team"]["name"], i["requests"]) for i in by_team] in (
        [(None, 3), ("design", 2)],
        [("design", 2), (None, 3)],
    )  # NULL sorts per dialect
    assert totals(await reports.summary("model", everything), "model") == {
        "dall-e-3": (2, 4, 160_000_000, 1),
        "gpt-image-2": (3, 4, 1_000_000_008, 0),
    }
    assert totals(await reports.summary("carrier", everything), "carrier") == {
        "None": (1, 0, 0, 1),
        "local": (1, 1, 0, 0),
        "openai": (3, 7, 1_160_000_008, 0),
    }
    assert totals(await reports.summary("day", everything), "day") == {
        "2026-10-31": (1, 2, 1_000_000_001, 0),
        "2026-11-01": (4, 6, 160_000_007, 1),
    }


async def test_filters(ledger: tuple[Reports, str, str]) -> None:
    reports, alice, _ = ledger
    november = usage_filter("2026-11-01", "2026-11-30")
    assert [i["requests"] for i in await reports.summary("day", november)] == [4]
    october = usage_filter(None, "2026-10-31")  # a date includes that whole day
    assert [i["day"] for i in await reports.summary("day", october)] == ["2026-10-31"]
    by_name = await reports.summary("model", usage_filter(None, None, key="alice"))
    by_id = await reports.summary("model", usage_filter(None, None, key=alice))
    assert by_name == by_id and [i["requests"] for i in by_name] == [2]
    assert [
        i["requests"] for i in await reports.summary("key", usage_filter(None, None, team="design"))
    ] == [2]
    assert [
        i["requests"]
        for i in await reports.summary("key", usage_filter(None, None, model="dall-e-3"))
    ] == [2]


async def test_records_page_oldest_first(ledger: tuple[Reports, str, str]) -> None:
    reports, _, _ = ledger
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        page, cursor = await reports.records(UsageFilter(), after=cursor, limit=2)
        seen += [item["id"] for item in page]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 5
    chunks = [chunk async for chunk in reports.csv(UsageFilter())]
    lines = b"".join(chunks).decode().splitlines()
    assert lines[0].startswith("time,id,request_id") and len(lines) == 6


def test_times_as_people_write_them() -> None:
    assert moment("2026-11-01", "since", end_of_day=False) == datetime(2026, 11, 1, tzinfo=UTC)
    assert moment("2026-11-01", "until", end_of_day=True) == datetime(2026, 11, 2, tzinfo=UTC)
    assert moment("1793491200", "since", end_of_day=False) == datetime(2026, 11, 1, tzinfo=UTC)
    assert moment("2026-11-01T12:00:00+02:00", "since", end_of_day=False) == datetime(
        2026, 11, 1, 10, tzinfo=UTC
    )
    with pytest.raises(InvalidRequest):
        moment("last tuesday", "since", end_of_day=False)
