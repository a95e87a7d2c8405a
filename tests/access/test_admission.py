"""Admission on a real database with frozen clocks: budget periods roll over in UTC calendar
terms, refusals give back what they counted, and a crash's holds are released at start."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.access.admission import Admission
from app.access.leases import CHUNK, REFILL_AT, Leases
from app.access.settlement import Settlement
from app.config.runtime import LedgerConfig
from app.core.catalog import build_catalog
from app.db.budgets import Budgets
from app.domain import Limits, Principal, UsageRecord
from app.errors import GatewayError
from app.state.base import Take
from app.state.counters import MemoryCounters
from app.usage.ledger import LedgerSink
from tests.support.config import MakeConfig
from tests.support.keys import open_holds, spent
from tests.support.rules import job

PRICE = 40_000_000  # dall-e-3 standard in the test config


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def principal(**limits: object) -> Principal:
    return Principal(id="key_1", name="alice", limits=Limits(**limits))  # type: ignore[arg-type]


def no_writer(work, name):
    """The leases' writer never runs: the tests write with ``close()``."""
    work.close()


def leases(engine: AsyncEngine, clock: Clock | None = None) -> Leases:
    return Leases(Budgets(engine, clock), no_writer)


class Inline:
    """A spawn that runs the settlement at once (and lets the test wait for it)."""

    def __init__(self) -> None:
        self.pending: list = []

    def __call__(self, work, name):
        self.pending.append(work)
        return None

    async def run(self) -> None:
        while self.pending:
            await self.pending.pop(0)


@pytest.fixture
def parts(make_config: MakeConfig, engine: AsyncEngine):
    catalog = build_catalog(make_config())
    return catalog, catalog.resolve("dall-e-3"), job("dall-e-3", quality="standard")


async def test_a_day_budget_rolls_over_at_utc_midnight(parts, engine: AsyncEngine) -> None:
    catalog, spec, dalle = parts
    clock = Clock(datetime(2026, 11, 25, 23, 59, 59, tzinfo=UTC))
    admission = Admission(MemoryCounters(), leases(engine, clock), {"up"}, now=clock)
    alice = principal(budget_nanos=PRICE, budget_period="day")
    charge = await admission.admit(alice, dalle, spec, "r1")
    assert charge is not None and charge.estimate_nanos == PRICE and charge.remaining_nanos == 0
    with pytest.raises(GatewayError) as refused:
        await admission.admit(alice, dalle, spec, "r2")
    assert refused.value.code == "insufficient_quota"
    clock.now += timedelta(seconds=1)  # a new UTC day
    assert await admission.admit(alice, dalle, spec, "r3") is not None
    weekly = principal(budget_nanos=PRICE, budget_period="week")
    assert await admission.admit(replace(weekly, id="key_2"), dalle, spec, "r4") is not None
    clock.now = datetime(2026, 11, 29, 23, 0, tzinfo=UTC)  # Sunday: the same ISO week
    with pytest.raises(GatewayError):
        await admission.admit(replace(weekly, id="key_2"), dalle, spec, "r5")
    clock.now = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)  # Monday
    assert await admission.admit(replace(weekly, id="key_2"), dalle, spec, "r6") is not None


async def slots_held(counters: MemoryCounters, counter: str) -> int:
    """How many in-flight slots ``counter`` holds now (a read: amount 0 takes nothing)."""
    return (await counters.take_all([Take(counter, 0, 60, None, "reader")])).before[0]


async def test_a_refusal_gives_back_what_it_counted(parts, engine: AsyncEngine) -> None:
    _, spec, dalle = parts
    counters = MemoryCounters()
    admission = Admission(counters, leases(engine), {"up"})
    alice = principal(budget_nanos=PRICE // 2, max_concurrent=1, requests_per_minute=5)
    with pytest.raises(GatewayError):
        await admission.admit(alice, dalle, spec, "r1")  # over budget: nothing stays counted
    assert await slots_held(counters, "cc:key:key_1") == 0
    assert await counters.add("rpm:key:key_1", 0, 60) == 0


async def test_settlement_gives_back_holds_and_slots(parts, engine: AsyncEngine) -> None:
    _, spec, dalle = parts
    counters, spawn = MemoryCounters(), Inline()
    budget = leases(engine)
    admission = Admission(counters, budget, {"up"})
    settlement = Settlement(counters, budget, spawn)
    alice = principal(budget_nanos=10 * PRICE, max_concurrent=2)
    charges = [await admission.admit(alice, dalle, spec, f"r{i}") for i in range(2)]
    with pytest.raises(GatewayError) as busy:
        await admission.admit(alice, dalle, spec, "r3")
    assert busy.value.code == "rate_limit_exceeded"
    base = UsageRecord(
        request_id="r",
        principal_id="key_1",
        principal_name="alice",
        model="dall-e-3",
        operation="generate",
        outcome="succeeded",
    )
    ledger = LedgerSink(engine, LedgerConfig(), budget)  # writes each charge with its row
    for record in (
        replace(base, request_id="ok", charge=charges[0], cost_nanos=PRICE),
        replace(base, request_id="failed", outcome="failed", charge=charges[1]),
    ):
        settlement.write(record)
        ledger.write(record)
    assert await slots_held(counters, "cc:key:key_1") == 2
    await spawn.run()
    assert await slots_held(counters, "cc:key:key_1") == 0
    await settlement.close()
    await ledger.close()
    assert await spent(engine, "key:key_1") == (PRICE, 0) and await open_holds(engine) == 0


async def test_a_lease_serves_many_requests_with_one_database_hold(
    parts, engine: AsyncEngine
) -> None:
    _, spec, dalle = parts
    budget = leases(engine)
    admission = Admission(MemoryCounters(), budget, {"up"})
    alice = principal(budget_nanos=100 * PRICE)
    first = await admission.admit(alice, dalle, spec, "r0")
    assert first is not None and await spent(engine, "key:key_1") == (0, (1 + CHUNK) * PRICE)
    for i in range(CHUNK):  # all within the lease: no database work
        await admission.admit(alice, dalle, spec, f"r{i + 1}")
    assert await spent(engine, "key:key_1") == (0, (1 + CHUNK) * PRICE)
    await admission.admit(alice, dalle, spec, "grows")
    assert await spent(engine, "key:key_1") == (0, (2 + 2 * CHUNK) * PRICE)
    for _ in range(CHUNK + 2):
        budget.give_back(first.hold_id or "", PRICE, PRICE)
    draws = budget.draws({first.hold_id or "": (CHUNK + 2) * PRICE})
    await budget.budgets.draw_many([draw for _, draw in draws])  # as the ledger's batch does
    budget.drawn(draws)
    assert await spent(engine, "key:key_1") == ((CHUNK + 2) * PRICE, (CHUNK) * PRICE)
    await budget.close()  # the unused room is given back
    assert await spent(engine, "key:key_1") == ((CHUNK + 2) * PRICE, 0)


async def test_two_processes_leasing_one_budget_never_pass_it(parts, engine: AsyncEngine) -> None:
    _, spec, dalle = parts
    alice = principal(budget_nanos=3 * PRICE)
    one, two = (Admission(MemoryCounters(), leases(engine), {"up"}) for _ in range(2))
    admitted = 0
    for i in range(4):
        for process in (one, two):
            try:
                await process.admit(alice, dalle, spec, f"r{i}")
                admitted += 1
            except GatewayError as refused:
                assert refused.code == "insufficient_quota"
    assert admitted == 3 and sum(await spent(engine, "key:key_1")) == 3 * PRICE


async def test_holds_a_crash_left_are_released_at_start(parts, engine: AsyncEngine) -> None:
    catalog, spec, dalle = parts
    clock = Clock(datetime(2026, 11, 25, 12, 0, tzinfo=UTC))
    admission = Admission(MemoryCounters(), leases(engine, clock), {"up"}, now=clock)
    alice = principal(budget_nanos=PRICE)
    assert await admission.admit(alice, dalle, spec, "crashed") is not None
    assert await admission.release_stale(catalog) == 0  # still within its deadline
    clock.now += timedelta(seconds=max(m.timeout for m in catalog.models) + 61)
    assert await admission.release_stale(catalog) == 1
    assert await open_holds(engine) == 0 and await spent(engine, "key:key_1") == (0, 0)


async def test_a_lease_tops_itself_up_before_it_runs_out_and_no_request_waits(
    parts, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the database is slow to grow the lease (SQLite's write lock behind a ledger
    batch), requests go on using the room left; the top-up lands before the room runs out."""
    _, spec, dalle = parts
    budgets = Budgets(engine)
    budget = Leases(budgets, interval=3600)  # background work really runs
    admission = Admission(MemoryCounters(), budget, {"up"})
    alice = principal(budget_nanos=100 * PRICE)
    database_slow = asyncio.Event()
    grows: list[int] = []
    real_grow = budgets.grow

    async def slow_grow(*args: object) -> int | None:
        grows.append(len(grows))
        await database_slow.wait()
        return await real_grow(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(budgets, "grow", slow_grow)
    first = await admission.admit(alice, dalle, spec, "r0")  # the lease: room for 1 + CHUNK
    assert first is not None
    for i in range(CHUNK):  # the top-up starts halfway and waits; no request waits with it
        await asyncio.wait_for(admission.admit(alice, dalle, spec, f"r{i + 1}"), 1)
    assert grows == [0]
    database_slow.set()
    await asyncio.sleep(0.05)
    topped_up = CHUNK - (REFILL_AT - 1)  # it started when room for REFILL_AT - 1 was left
    assert await spent(engine, "key:key_1") == (0, (1 + CHUNK + topped_up) * PRICE)
    await asyncio.wait_for(admission.admit(alice, dalle, spec, "more"), 1)
    assert grows == [0]  # the top-up made room: no growth on the request path
    await budget.close()  # the unused room goes back; the requests still running keep theirs
    assert await spent(engine, "key:key_1") == (0, (CHUNK + 2) * PRICE)
