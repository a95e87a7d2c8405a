"""Budget accounting: what each owner spent and holds in a period, and the open holds.

One ``budget_spend`` row per (owner, period start). A reservation is one conditional upsert on
that row (``held += x WHERE spent + held + x <= budget``), so the database itself decides who
gets the last dollar: there is no read-then-write window (see ``app.db.budgets``). A hold
remembers which rows it raised so settling or releasing it lowers exactly those, and a crash
leaves rows that ``release_stale`` finds by age.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, ForeignKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.models.base import ID, Base

OWNER = String(80)  # "key:<id>" or "team:<id>"


class BudgetSpend(Base):
    __tablename__ = "budget_spend"
    __table_args__ = (
        CheckConstraint("spent_nanos >= 0", name="spent_nanos"),
        CheckConstraint("held_nanos >= 0", name="held_nanos"),
    )

    owner: Mapped[str] = mapped_column(OWNER, primary_key=True)
    period_start: Mapped[datetime] = mapped_column(primary_key=True)
    spent_nanos: Mapped[int] = mapped_column(BigInteger(), default=0)
    held_nanos: Mapped[int] = mapped_column(BigInteger(), default=0)
    updated_at: Mapped[datetime]


class BudgetHold(Base):
    __tablename__ = "budget_holds"
    __table_args__ = (CheckConstraint("amount_nanos >= 0", name="amount_nanos"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    amount_nanos: Mapped[int] = mapped_column(BigInteger())
    created_at: Mapped[datetime] = mapped_column(index=True)
    deadline_at: Mapped[datetime]


class BudgetHoldPart(Base):
    """One owner's share of a hold: the same amount is held on each owner's row."""

    __tablename__ = "budget_hold_parts"
    __table_args__ = (
        ForeignKeyConstraint(
            ["owner", "period_start"],
            ["budget_spend.owner", "budget_spend.period_start"],
            name="fk_budget_hold_parts_spend",
        ),
    )

    hold_id: Mapped[str] = mapped_column(
        ForeignKey("budget_holds.id", ondelete="CASCADE"), primary_key=True
    )
    owner: Mapped[str] = mapped_column(OWNER, primary_key=True)
    period_start: Mapped[datetime]
