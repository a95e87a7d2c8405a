"""The budget primitive: reserve before the upstream call, settle or release after, and never
let ``spent + held`` pass the budget, whatever the concurrency, on SQLite and PostgreSQL.

``reserve`` is, per owner, ONE conditional upsert::

    INSERT INTO budget_spend (owner, period_start, spent_nanos, held_nanos, ...)
    VALUES (:owner, :period, 0, :amount, ...)
    ON CONFLICT (owner, period_start) DO UPDATE SET held_nanos = held_nanos + :amount
    WHERE spent_nanos + held_nanos + :amount <= :budget
    RETURNING owner

The database evaluates the condition on the row it locks (PostgreSQL re-checks it against the
latest committed version; SQLite serialises writers), so there is no stale read to race. A
request charged to a key *and* its team reserves on both rows in one transaction, in owner
order (no deadlocks); if either refuses, the transaction rolls back and nothing is held.

Settling or releasing deletes the hold first (``DELETE ... RETURNING``): whoever deletes it
lowers the rows, so a settle racing ``release_stale`` cannot count a hold twice. Amounts are
integer nano-dollars (``app.db.money``).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table, bindparam, delete, insert, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.db.claims import Claim, Spend, period_start
from app.db.engine import write_turn
from app.db.models import BudgetHold, BudgetHoldPart, BudgetSpend

__all__ = ["Budgets", "Claim", "Draw", "Hold", "Spend", "period_start"]

_SPEND, _HOLDS = cast(Table, BudgetSpend.__table__), cast(Table, BudgetHold.__table__)
# ``draw_in``'s two batched updates, built once (a ledger batch pays no construction).
_DRAW_SPEND = (
    update(_SPEND)
    .where(
        _SPEND.c.owner == bindparam("row_owner"), _SPEND.c.period_start == bindparam("row_start")
    )
    .values(
        held_nanos=_SPEND.c.held_nanos - bindparam("less"),
        spent_nanos=_SPEND.c.spent_nanos + bindparam("more"),
        updated_at=bindparam("now", type_=_SPEND.c.updated_at.type),
    )
)
_RENEW_HOLD = (
    update(_HOLDS)
    .where(_HOLDS.c.id == bindparam("hold"))
    .values(
        amount_nanos=_HOLDS.c.amount_nanos - bindparam("less"),
        created_at=bindparam("now", type_=_HOLDS.c.created_at.type),
    )
)


@dataclass(frozen=True, slots=True)
class Hold:
    """A reservation; ``remaining_nanos`` is the least budget left over its claims right after
    it was held (None without claims)."""

    id: str
    amount_nanos: int
    remaining_nanos: int | None = None


@dataclass(frozen=True, slots=True)
class Draw:
    """What a budget lease writes: ``charge`` moves from held to spent on every claim of the
    hold, ``release`` is freed; a hold that ``close``s is deleted (drawn to nothing)."""

    hold_id: str
    charge: int
    release: int
    claims: Sequence[Claim]
    close: bool = False


class Budgets:
    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime] | None = None) -> None:
        self._engine = engine
        self._clock = clock or (lambda: datetime.now(UTC))
        self._upsert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    async def reserve(
        self, claims: Sequence[Claim], amount_nanos: int, *, request_id: str, deadline: datetime
    ) -> Hold | None:
        """Hold ``amount_nanos`` on every claim's budget, or on none; None if any would pass
        its budget. ``deadline`` is when the request must be over (for crash recovery)."""
        if amount_nanos < 0:
            raise ValueError("a hold cannot be negative")
        if any(amount_nanos > claim.budget_nanos for claim in claims):
            return None
        now = self._clock()
        remaining: int | None = None
        hold_id = f"hold_{secrets.token_hex(12)}"
        async with write_turn(self._engine), self._engine.connect() as connection:
            for claim in sorted(claims, key=lambda c: c.owner):
                used = await self._raise_held(connection, claim, amount_nanos, now)
                if used is None:
                    await connection.rollback()
                    return None
                left = claim.budget_nanos - used
                remaining = left if remaining is None else min(remaining, left)
            hold = Hold(id=hold_id, amount_nanos=amount_nanos, remaining_nanos=remaining)
            await connection.execute(
                insert(BudgetHold).values(
                    id=hold.id, request_id=request_id, amount_nanos=amount_nanos,
                    created_at=now, deadline_at=deadline,
                )
            )  # fmt: skip
            if claims:
                await connection.execute(
                    insert(BudgetHoldPart),
                    [{"hold_id": hold.id, "owner": c.owner, "period_start": c.period_start}
                     for c in claims],
                )  # fmt: skip
            await connection.commit()
        return hold

    async def _raise_held(
        self, connection: AsyncConnection, claim: Claim, amount: int, now: datetime
    ) -> int | None:
        """``spent + held`` on the claim's row once ``amount`` is held; None if it would not fit."""
        spend = BudgetSpend
        statement = self._upsert(spend).values(
            owner=claim.owner, period_start=claim.period_start, spent_nanos=0,
            held_nanos=amount, updated_at=now,
        )  # fmt: skip
        returning = statement.on_conflict_do_update(
            index_elements=[spend.owner, spend.period_start],
            set_={"held_nanos": spend.held_nanos + amount, "updated_at": now},
            where=spend.spent_nanos + spend.held_nanos + amount <= claim.budget_nanos,
        ).returning(spend.spent_nanos + spend.held_nanos)
        used: int | None = (await connection.execute(returning)).scalar_one_or_none()
        return used

    async def settle(self, hold_id: str, actual_nanos: int) -> bool:
        """Charge ``actual_nanos`` (the real cost, even above the hold) and free the hold.
        False if the hold was already settled or released."""
        return await self.settle_many([(hold_id, actual_nanos)]) == 1

    async def settle_many(self, charges: Sequence[tuple[str, int]]) -> int:
        """Settle ``(hold id, actual nano-dollars)`` pairs in one transaction; how many holds
        were still open. Rows are updated once each, in owner order, as ``reserve`` locks
        them: no deadlock with concurrent reservations."""
        async with write_turn(self._engine), self._engine.connect() as connection:
            settled = await self._settle_in(connection, charges)
            await connection.commit()
        return settled

    async def _settle_in(
        self, connection: AsyncConnection, charges: Sequence[tuple[str, int]]
    ) -> int:
        if any(actual < 0 for _, actual in charges):
            raise ValueError("a charge cannot be negative")
        deltas: dict[tuple[str, datetime], tuple[int, int]] = {}  # row -> (held, spent)
        settled = 0
        for hold_id, actual_nanos in charges:
            parts = (
                await connection.execute(
                    delete(BudgetHoldPart)
                    .where(BudgetHoldPart.hold_id == hold_id)
                    .returning(BudgetHoldPart.owner, BudgetHoldPart.period_start)
                )
            ).all()
            held = (
                await connection.execute(
                    delete(BudgetHold)
                    .where(BudgetHold.id == hold_id)
                    .returning(BudgetHold.amount_nanos)
                )
            ).scalar_one_or_none()
            if held is None:
                continue
            settled += 1
            for owner, start in parts:
                was_held, was_spent = deltas.get((owner, start), (0, 0))
                deltas[(owner, start)] = (was_held + held, was_spent + actual_nanos)
        await self._apply(connection, deltas, self._clock())
        return settled

    async def grow(self, hold_id: str, claims: Sequence[Claim], amount_nanos: int) -> int | None:
        """Raise an open hold by ``amount_nanos`` on every claim, or on none (the same one
        conditional upsert per owner as :meth:`reserve`); the least budget left, or None.
        Renews the hold's age: a hold in use is never stale."""
        now = self._clock()
        remaining: int | None = None
        async with write_turn(self._engine), self._engine.connect() as connection:
            for claim in sorted(claims, key=lambda c: c.owner):
                used = await self._raise_held(connection, claim, amount_nanos, now)
                if used is None:
                    await connection.rollback()
                    return None
                left = claim.budget_nanos - used
                remaining = left if remaining is None else min(remaining, left)
            await connection.execute(
                update(BudgetHold)
                .where(BudgetHold.id == hold_id)
                .values(amount_nanos=BudgetHold.amount_nanos + amount_nanos, created_at=now)
            )
            await connection.commit()
        return remaining

    async def draw_many(self, draws: Sequence[Draw]) -> None:
        """:meth:`draw_in` in a transaction of its own."""
        async with write_turn(self._engine), self._engine.connect() as connection:
            await self.draw_in(connection, draws)
            await connection.commit()

    async def draw_in(
        self, connection: AsyncConnection, draws: Sequence[Draw], *, spent_of: Collection[str] = ()
    ) -> dict[tuple[str, datetime], int]:
        """Move each draw's ``charge`` from held to spent and free its ``release``, inside the
        caller's transaction (the ledger commits them with their usage rows), in a few batched
        statements whatever the number of holds: holds that ``close`` are deleted, the others
        shrink and are renewed (their age restarts). Budget rows first, each once, in owner
        order, then holds in id order: the order ``reserve`` and ``grow`` lock them in, so
        concurrent writers never deadlock. Returns what the rows of the owners in ``spent_of``
        have spent now (every process's committed charges and these), per (owner, period)."""
        now = self._clock()
        deltas: dict[tuple[str, datetime], tuple[int, int]] = {}  # row -> (held, spent)
        for draw in draws:
            for claim in draw.claims if draw.charge + draw.release else ():
                was_held, was_spent = deltas.get((claim.owner, claim.period_start), (0, 0))
                deltas[(claim.owner, claim.period_start)] = (
                    was_held + draw.charge + draw.release,
                    was_spent + draw.charge,
                )
        renew: dict[str, int] = {}
        for draw in draws:
            if not draw.close:
                renew[draw.hold_id] = renew.get(draw.hold_id, 0) + draw.charge + draw.release
        closing = sorted({draw.hold_id for draw in draws if draw.close})
        await self._apply(connection, deltas, now)
        if renew:
            await connection.execute(
                _RENEW_HOLD,
                [{"hold": hold, "less": less, "now": now} for hold, less in sorted(renew.items())],
            )
        if closing:
            await connection.execute(
                delete(BudgetHoldPart).where(BudgetHoldPart.hold_id.in_(closing))
            )
            await connection.execute(delete(BudgetHold).where(BudgetHold.id.in_(closing)))
        watched = [row for row in deltas if row[0] in spent_of]
        if not watched:
            return {}
        found = await connection.execute(
            select(_SPEND.c.owner, _SPEND.c.period_start, _SPEND.c.spent_nanos).where(
                tuple_(_SPEND.c.owner, _SPEND.c.period_start).in_(watched)
            )
        )
        return {(owner, start): spent for owner, start, spent in found.all()}

    async def _apply(
        self,
        connection: AsyncConnection,
        deltas: dict[tuple[str, datetime], tuple[int, int]],
        now: datetime,
    ) -> None:
        """Lower each row's held and raise its spent, in owner order (one batched update)."""
        if deltas:
            rows = [
                {"row_owner": owner, "row_start": start, "less": held, "more": spent, "now": now}
                for (owner, start), (held, spent) in sorted(deltas.items())
            ]
            await connection.execute(_DRAW_SPEND, rows)

    async def release(self, hold_id: str) -> bool:
        """Free the hold without charging anything (the request failed before any cost)."""
        return await self.settle(hold_id, 0)

    async def release_stale(self, older_than: datetime) -> int:
        """Release every hold created before ``older_than``: what a crash left behind. Called at
        start with ``now - longest request deadline``; returns how many were released."""
        async with self._engine.connect() as connection:
            stale = (
                await connection.execute(
                    select(BudgetHold.id).where(BudgetHold.created_at < older_than)
                )
            ).scalars()
            ids = list(stale)
        released = 0
        for hold_id in ids:
            released += await self.release(hold_id)
        return released

    async def spend(self, owner: str, start: datetime) -> Spend:
        """What ``owner`` spent and holds in the period starting at ``start``."""
        async with self._engine.connect() as connection:
            row = (
                await connection.execute(
                    select(BudgetSpend.spent_nanos, BudgetSpend.held_nanos).where(
                        BudgetSpend.owner == owner, BudgetSpend.period_start == start
                    )
                )
            ).first()
        return Spend(row.spent_nanos, row.held_nanos) if row else Spend()
