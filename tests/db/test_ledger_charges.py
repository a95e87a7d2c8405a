"""A budget charge and its usage row commit in one transaction, on SQLite and PostgreSQL: a
failure inside that transaction leaves neither, the retry writes both exactly once, and a
retry after a commit whose answer was lost counts nothing twice."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.access.leases import Leases
from app.config.runtime import LedgerConfig
from app.db.budgets import Budgets, Claim, period_start
from app.db.models import UsageRecord as UsageRow
from app.domain import Charge, UsageRecord
from app.usage.ledger import LedgerSink
from tests.support.keys import open_holds, spent

PRICE = 40_000_000
OWNER = "key:key_1"


def no_writer(work: Any, name: str) -> None:
    work.close()  # the leases' own writer never runs: close() writes them


async def usage_rows(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(UsageRow)) or 0)


async def charged_request(leases: Leases, request_id: str) -> UsageRecord:
    """A request admitted on a lease (the worst case held) that succeeded at ``PRICE``."""
    claim = Claim(OWNER, period_start("month", datetime.now(UTC)), 10 * PRICE)
    held = await leases.take([claim], PRICE, request_id)
    assert held is not None
    lease_id, remaining = held
    record = UsageRecord(
        request_id=request_id,
        principal_id="key_1",
        principal_name="alice",
        model="dall-e-3",
        operation="generate",
        outcome="succeeded",
        images=1,
        cost_nanos=PRICE,
        created_at=time.time(),
        charge=Charge(lease_id, PRICE, remaining),
    )
    leases.give_back(lease_id, PRICE, PRICE)  # what settlement does when the request ends
    return record


async def test_a_failure_after_the_usage_insert_leaves_neither_and_the_retry_writes_both(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    budgets = Budgets(engine)
    leases = Leases(budgets, no_writer)
    ledger = LedgerSink(engine, LedgerConfig(), leases)
    real_draw = budgets.draw_in
    failures: list[int | None] = []

    async def fail_once(connection: AsyncConnection, *args: Any, **kwargs: Any) -> Any:
        if not failures:  # inside the transaction, after the usage insert ran
            failures.append(await connection.scalar(select(func.count()).select_from(UsageRow)))
            raise ConnectionResetError("the database went away mid-transaction")
        return await real_draw(connection, *args, **kwargs)

    monkeypatch.setattr(budgets, "draw_in", fail_once)
    ledger.write(await charged_request(leases, "req-1"))
    assert await ledger.flush() is False
    assert failures == [1]  # the row was inserted in the transaction that failed
    assert await usage_rows(engine) == 0 and await spent(engine, OWNER) == (0, PRICE)
    assert await ledger.flush() is True  # the retry: the row and the charge, together
    assert await usage_rows(engine) == 1 and await spent(engine, OWNER) == (PRICE, 0)
    assert await ledger.flush() is True  # nothing left to write twice
    await ledger.close()
    assert await usage_rows(engine) == 1 and await spent(engine, OWNER) == (PRICE, 0)
    assert await open_holds(engine) == 0


async def test_a_retry_after_a_lost_commit_answer_counts_nothing_twice(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    leases = Leases(Budgets(engine), no_writer)
    ledger = LedgerSink(engine, LedgerConfig(), leases)
    real_write = ledger._write
    lost: list[bool] = []

    async def commit_then_lose_the_answer(batch: Any) -> None:
        await real_write(batch)
        if not lost:
            lost.append(True)
            raise ConnectionResetError("the commit's answer never came back")

    monkeypatch.setattr(ledger, "_write", commit_then_lose_the_answer)
    ledger.write(await charged_request(leases, "req-1"))
    ledger.write(await charged_request(leases, "req-2"))
    assert await ledger.flush() is False
    assert await usage_rows(engine) == 2 and await spent(engine, OWNER) == (2 * PRICE, 0)
    assert await ledger.flush() is True  # finds its rows there: done, not drawn again
    await ledger.close()
    assert await usage_rows(engine) == 2 and await spent(engine, OWNER) == (2 * PRICE, 0)
    assert await open_holds(engine) == 0


async def test_a_full_ledger_never_drops_a_row_that_carries_a_charge(engine: AsyncEngine) -> None:
    leases = Leases(Budgets(engine), no_writer)
    ledger = LedgerSink(engine, LedgerConfig(max_queue=100), leases)
    free = UsageRecord(
        request_id="free",
        principal_id="key_1",
        principal_name="alice",
        model="dall-e-3",
        operation="generate",
        outcome="failed",
        created_at=time.time(),
    )
    for _ in range(100):
        ledger.write(free)
    ledger.write(free)  # dropped: full, and nothing to charge
    ledger.write(await charged_request(leases, "paid"))  # kept: its charge needs its row
    assert ledger.pending == 101
    await ledger.close()
    assert await usage_rows(engine) == 101 and await spent(engine, OWNER) == (PRICE, 0)


async def test_shutdown_does_not_wait_for_the_lease_writer_and_gives_back_the_room(
    engine: AsyncEngine,
) -> None:
    """The leases' writer is the process's own chore: with an hour between its writes, the
    ledger's close (shutdown) stops it at once, writes the charge and gives back the room."""
    leases = Leases(Budgets(engine), interval=3600)
    ledger = LedgerSink(engine, LedgerConfig(), leases)
    ledger.write(await charged_request(leases, "req-1"))
    assert leases._writer is not None and not leases._writer.done()  # running, asleep
    started = time.monotonic()
    await asyncio.wait_for(ledger.close(), 10)
    assert time.monotonic() - started < 5  # not an interval
    assert leases._writer is None
    assert await usage_rows(engine) == 1 and await spent(engine, OWNER) == (PRICE, 0)
    assert await open_holds(engine) == 0
