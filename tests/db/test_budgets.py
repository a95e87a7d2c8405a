"""The budget primitive: concurrent reservations never pass the budget, on both databases."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.budgets import Budgets, Claim, Hold, Spend, period_start
from app.db.engine import create_engine
from app.db.models import BudgetHold, BudgetHoldPart
from app.db.money import to_nanos

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
MONTH = period_start("month", NOW)
PRICE = to_nanos("0.04")  # one image
DEADLINE = NOW + timedelta(minutes=10)


def key(budget: int, owner: str = "key:alice", start: datetime = MONTH) -> Claim:
    return Claim(owner=owner, period_start=start, budget_nanos=budget)


async def test_64_concurrent_reservations_against_a_budget_for_10_get_exactly_10(
    engine: AsyncEngine, database_url: str
) -> None:
    """Spread over two engines (two pools, as two workers would have), all at once."""
    budgets = Budgets(engine, clock=lambda: NOW)
    other = create_engine(database_url)
    sides = (budgets, Budgets(other, clock=lambda: NOW))
    claim = key(10 * PRICE)
    seen: list[Spend] = []
    done = asyncio.Event()

    async def watch() -> None:
        while not done.is_set():
            seen.append(await budgets.spend(claim.owner, MONTH))
            await asyncio.sleep(0)

    async def reserve(i: int) -> Hold | None:
        side = sides[i % 2]
        return await side.reserve([claim], PRICE, request_id=f"req_{i}", deadline=DEADLINE)

    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(watch())
            holds = await asyncio.gather(*(reserve(i) for i in range(64)))
            done.set()
    finally:
        await other.dispose()
    granted = [h for h in holds if h is not None]
    assert len(granted) == 10
    assert await budgets.spend(claim.owner, MONTH) == Spend(0, 10 * PRICE)
    assert len(seen) > 1 and all(s.spent_nanos + s.held_nanos <= 10 * PRICE for s in seen)
    settled = await asyncio.gather(*(budgets.settle(h.id, PRICE) for h in granted))
    assert all(settled)
    assert await budgets.spend(claim.owner, MONTH) == Spend(10 * PRICE, 0)
    assert await budgets.reserve([claim], 1, request_id="one-more", deadline=DEADLINE) is None


async def test_settle_charges_the_real_cost_and_frees_the_rest(engine: AsyncEngine) -> None:
    budgets = Budgets(engine, clock=lambda: NOW)
    claim = key(3 * PRICE)
    hold = await budgets.reserve([claim], 3 * PRICE, request_id="r1", deadline=DEADLINE)
    assert hold is not None
    assert await budgets.reserve([claim], 1, request_id="r2", deadline=DEADLINE) is None
    assert await budgets.settle(hold.id, PRICE)
    assert await budgets.spend(claim.owner, MONTH) == Spend(PRICE, 0)
    assert not await budgets.settle(hold.id, PRICE), "a hold is settled once"
    assert not await budgets.release(hold.id)
    assert await budgets.spend(claim.owner, MONTH) == Spend(PRICE, 0)
    again = await budgets.reserve([claim], 2 * PRICE, request_id="r3", deadline=DEADLINE)
    assert again is not None and await budgets.release(again.id)
    assert await budgets.spend(claim.owner, MONTH) == Spend(PRICE, 0)


async def test_a_key_and_its_team_are_reserved_together_or_not_at_all(
    engine: AsyncEngine,
) -> None:
    budgets = Budgets(engine, clock=lambda: NOW)
    team = key(3 * PRICE, owner="team:design", start=period_start("week", NOW))
    alice, bob = key(10 * PRICE, "key:alice"), key(10 * PRICE, "key:bob")
    for i, who in enumerate((alice, bob, alice)):
        assert await budgets.reserve([who, team], PRICE, request_id=f"r{i}", deadline=DEADLINE)
    assert await budgets.reserve([bob, team], PRICE, request_id="r4", deadline=DEADLINE) is None
    assert await budgets.spend("key:bob", MONTH) == Spend(0, PRICE), "bob's row rolled back"
    assert await budgets.spend("team:design", team.period_start) == Spend(0, 3 * PRICE)
    assert await budgets.reserve([bob], 9 * PRICE, request_id="r5", deadline=DEADLINE)


async def test_a_new_period_starts_from_zero(engine: AsyncEngine) -> None:
    budgets = Budgets(engine, clock=lambda: NOW)
    today = key(PRICE, start=period_start("day", NOW))
    tomorrow = key(PRICE, start=period_start("day", NOW + timedelta(days=1)))
    assert await budgets.reserve([today], PRICE, request_id="r1", deadline=DEADLINE)
    assert await budgets.reserve([today], PRICE, request_id="r2", deadline=DEADLINE) is None
    assert await budgets.reserve([tomorrow], PRICE, request_id="r3", deadline=DEADLINE)


async def test_release_stale_frees_what_a_crash_left_and_nothing_newer(
    engine: AsyncEngine,
) -> None:
    clock = [NOW - timedelta(hours=2)]
    budgets = Budgets(engine, clock=lambda: clock[0])
    claim = key(10 * PRICE)
    old = [await budgets.reserve([claim], PRICE, request_id=f"old{i}", deadline=DEADLINE)
           for i in range(3)]  # fmt: skip
    clock[0] = NOW
    fresh = await budgets.reserve([claim], PRICE, request_id="fresh", deadline=DEADLINE)
    assert all(old) and fresh is not None
    assert await budgets.release_stale(NOW - timedelta(hours=1)) == 3
    assert await budgets.spend(claim.owner, MONTH) == Spend(0, PRICE)
    assert await budgets.release_stale(NOW - timedelta(hours=1)) == 0
    async with engine.connect() as connection:
        holds = (await connection.execute(select(func.count()).select_from(BudgetHold))).scalar()
        parts = (await connection.execute(select(BudgetHoldPart.hold_id))).scalars().all()
    assert holds == 1 and parts == [fresh.id]


async def test_settle_racing_release_counts_the_hold_once(engine: AsyncEngine) -> None:
    budgets = Budgets(engine, clock=lambda: NOW)
    claim = key(10 * PRICE)
    holds = [await budgets.reserve([claim], PRICE, request_id=f"r{i}", deadline=DEADLINE)
             for i in range(8)]  # fmt: skip
    ids = [h.id for h in holds if h is not None]
    results = await asyncio.gather(
        *(budgets.settle(i, PRICE) for i in ids), *(budgets.release(i) for i in ids)
    )
    assert sum(results) == len(ids) == 8
    spend = await budgets.spend(claim.owner, MONTH)
    assert spend.held_nanos == 0 and spend.spent_nanos == PRICE * sum(results[:8])


async def test_impossible_amounts_are_refused(engine: AsyncEngine) -> None:
    budgets = Budgets(engine, clock=lambda: NOW)
    assert await budgets.reserve([key(PRICE)], PRICE + 1, request_id="r", deadline=DEADLINE) is None
    assert await budgets.spend("key:alice", MONTH) == Spend(), "nothing written"
    with pytest.raises(ValueError):
        await budgets.reserve([key(PRICE)], -1, request_id="r", deadline=DEADLINE)
    with pytest.raises(ValueError):
        await budgets.settle("hold_x", -1)


@pytest.mark.parametrize(
    ("period", "start"),
    [
        ("day", datetime(2026, 11, 25, tzinfo=UTC)),
        ("week", datetime(2026, 11, 23, tzinfo=UTC)),  # a Monday
        ("month", datetime(2026, 11, 1, tzinfo=UTC)),
        ("total", datetime(1970, 1, 1, tzinfo=UTC)),
    ],
)
def test_periods_start_on_utc_calendar_boundaries(period: str, start: datetime) -> None:
    now = datetime(2026, 11, 25, 23, 59, 59, 999_999, tzinfo=UTC)
    assert period_start(period, now) == start
    assert period_start("day", datetime(2026, 12, 1, tzinfo=UTC)) != period_start("day", now)
