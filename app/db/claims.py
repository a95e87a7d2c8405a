"""What a budget is held against, without the database: an owner's budget for a period, the
UTC calendar periods, and what an owner spent. Pure values, so admission can build claims
without importing SQLAlchemy (a gateway without a database never loads it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True, slots=True)
class Claim:
    """One budget a request must fit in: ``owner`` ("key:<id>", "team:<id>") for the period
    starting at ``period_start`` (see ``period_start``), capped at ``budget_nanos``."""

    owner: str
    period_start: datetime
    budget_nanos: int


@dataclass(frozen=True, slots=True)
class Spend:
    spent_nanos: int = 0
    held_nanos: int = 0


def period_start(period: str, now: datetime) -> datetime:
    """The start of the UTC calendar period holding ``now``: midnight, Monday, the 1st, or the
    epoch for ``total`` (a budget that never resets)."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    if period == "total":
        return datetime(1970, 1, 1, tzinfo=UTC)
    raise ValueError(f"unknown budget period {period!r}")
