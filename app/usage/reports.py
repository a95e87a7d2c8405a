"""Reports on the usage ledger: totals grouped by key, team, model, carrier or UTC day, and
the ledger's rows page by page (for ``GET /admin/v1/usage/records``, its CSV export and
``imagegate usage``).

Sums run in the database, in integer nano-dollars; a day is a UTC calendar day, computed per
dialect (SQLite stores UTC text, PostgreSQL ``timestamptz``). Keys and teams are named from
their tables; a key that is not in the database (a config-file key, the open gateway's
anonymous caller) is named by its id.
"""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import and_, case, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.models import ApiKey, Team
from app.db.models import UsageRecord as Row
from app.db.money import to_usd
from app.errors import InvalidRequest

GroupBy = Literal["key", "team", "model", "carrier", "day"]
GROUPS: tuple[GroupBy, ...] = ("key", "team", "model", "carrier", "day")
MAX_PAGE = 1000


@dataclass(frozen=True, slots=True)
class UsageFilter:
    since: datetime | None = None  # included
    until: datetime | None = None  # excluded
    key: str | None = None  # id or name
    team: str | None = None  # id or name
    model: str | None = None


def usage_filter(
    since: str | None,
    until: str | None,
    key: str | None = None,
    team: str | None = None,
    model: str | None = None,
) -> UsageFilter:
    """The filter from query parameters or command-line options, as people write them."""
    return UsageFilter(
        since=moment(since, "since", end_of_day=False),
        until=moment(until, "until", end_of_day=True),
        key=key,
        team=team,
        model=model,
    )


def moment(text: str | None, param: str, *, end_of_day: bool) -> datetime | None:
    """A UTC date (its start; with ``end_of_day``, the next day's start, so the day is
    included), an ISO 8601 time (UTC unless it says otherwise), or Unix seconds."""
    if text is None or not text.strip():
        return None
    text = text.strip()
    try:
        if text.replace(".", "", 1).isdigit():
            return datetime.fromtimestamp(float(text), UTC)
        if len(text) == 10:
            day = datetime.combine(date.fromisoformat(text), time(), UTC)
            return day + timedelta(days=1) if end_of_day else day
        parsed = datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        raise InvalidRequest(
            f"'{text[:40]}' is neither a date (2026-11-01), an ISO 8601 time nor Unix seconds.",
            param=param,
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


class Reports:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name

    async def summary(self, group_by: GroupBy, where: UsageFilter) -> list[dict[str, Any]]:
        """One item per group: requests, images, pixels, cost (USD and nano-dollars), errors."""
        group = self._group_column(group_by)
        query = (
            select(
                group.label("group"),
                func.count().label("requests"),
                func.coalesce(func.sum(Row.images), 0).label("images"),
                func.coalesce(func.sum(Row.pixels), 0).label("pixels"),
                func.coalesce(func.sum(Row.settled_cost_nanos), 0).label("cost_nanos"),
                func.coalesce(func.sum(case((Row.outcome == "failed", 1), else_=0)), 0).label(
                    "errors"
                ),
            )
            .where(*_conditions(where))
            .group_by(group)
            .order_by(group)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
            names = await self._names(connection, group_by, [row.group for row in rows])
        return [
            {
                group_by: _group_value(group_by, row.group, names),
                "requests": int(row.requests),
                "images": int(row.images),
                "pixels": int(row.pixels),
                "cost": float(to_usd(int(row.cost_nanos))),
                "cost_nanos": int(row.cost_nanos),
                "errors": int(row.errors),
            }
            for row in rows
        ]

    async def records(
        self, where: UsageFilter, *, after: str | None = None, limit: int = 100
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Up to ``limit`` rows, oldest first, from ``after`` (a cursor this returned); and the
        cursor of the next page, or None when this is the last."""
        limit = max(1, min(limit, MAX_PAGE))
        query = select(Row).where(*_conditions(where))
        if after is not None:
            moment, last_id = _decode_cursor(after)
            query = query.where(
                or_(Row.created_at > moment, and_(Row.created_at == moment, Row.id > last_id))
            )
        query = query.order_by(Row.created_at, Row.id).limit(limit + 1)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        more = len(rows) > limit
        page = [record_json(row) for row in rows[:limit]]
        cursor = _encode_cursor(rows[limit - 1].created_at, rows[limit - 1].id) if more else None
        return page, cursor

    async def csv(self, where: UsageFilter) -> AsyncIterator[bytes]:
        """The whole selection as CSV (a header, then one line per row), page by page."""
        yield _csv_line(CSV_COLUMNS)
        cursor: str | None = None
        while True:
            page, cursor = await self.records(where, after=cursor, limit=MAX_PAGE)
            lines = [_csv_line(_csv_values(item)) for item in page]
            if lines:
                yield b"".join(lines)
            if cursor is None:
                return

    def _group_column(self, group_by: GroupBy) -> Any:
        if group_by == "day":
            if self._dialect == "postgresql":
                utc = func.timezone("UTC", Row.created_at)
                return func.to_char(utc, literal_column("'YYYY-MM-DD'"))
            return func.strftime("%Y-%m-%d", Row.created_at)  # SQLite: naive UTC text
        columns = {"key": Row.key_id, "team": Row.team_id, "model": Row.model}
        return columns.get(group_by, Row.carrier)

    async def _names(
        self, connection: Any, group_by: GroupBy, ids: Sequence[Any]
    ) -> dict[str, str]:
        if group_by not in ("key", "team") or not ids:
            return {}
        table: Any = ApiKey if group_by == "key" else Team
        found = await connection.execute(select(table.id, table.name).where(table.id.in_(ids)))
        return {row.id: row.name for row in found}


def _conditions(where: UsageFilter) -> list[Any]:
    conditions: list[Any] = []
    if where.since is not None:
        conditions.append(Row.created_at >= where.since)
    if where.until is not None:
        conditions.append(Row.created_at < where.until)
    if where.model is not None:
        conditions.append(Row.model == where.model)
    if where.key is not None:
        named = select(ApiKey.id).where(ApiKey.name == where.key)
        conditions.append(or_(Row.key_id == where.key, Row.key_id.in_(named)))
    if where.team is not None:
        named = select(Team.id).where(Team.name == where.team)
        conditions.append(or_(Row.team_id == where.team, Row.team_id.in_(named)))
    return conditions


def _group_value(group_by: GroupBy, value: Any, names: dict[str, str]) -> Any:
    if group_by in ("key", "team"):
        return None if value is None else {"id": value, "name": names.get(value, value)}
    return value


def record_json(row: Any) -> dict[str, Any]:
    usage = row.usage_tokens or {}
    settled = row.settled_cost_nanos
    return {
        "id": row.id,
        "object": "usage.record",
        "request_id": row.request_id,
        "created_at": row.created_at.timestamp(),
        "key_id": row.key_id,
        "team_id": row.team_id,
        "model": row.model,
        "carrier": row.carrier,
        "attempts": row.attempts,
        "outcome": row.outcome,
        "error_code": row.error_code,
        "images": row.images,
        "pixels": row.pixels,
        "size": row.size,
        "quality": row.quality,
        "output_format": row.output_format,
        "input_tokens": usage.get("input_tokens"),
        "output_tokens": usage.get("output_tokens"),
        "estimated_cost_nanos": row.estimated_cost_nanos,
        "cost_nanos": settled,
        "cost": None if settled is None else float(to_usd(settled)),
        "latency_ms": row.latency_ms,
        "stream": row.stream,
        "async": row.async_job,
        "replay": row.replay,
        "client_gone": row.client_gone,
    }


CSV_COLUMNS = (
    "time",
    "id",
    "request_id",
    "key_id",
    "team_id",
    "model",
    "carrier",
    "attempts",
    "outcome",
    "error_code",
    "images",
    "pixels",
    "size",
    "quality",
    "output_format",
    "input_tokens",
    "output_tokens",
    "estimated_cost_nanos",
    "cost_nanos",
    "cost",
    "latency_ms",
    "stream",
    "async",
    "replay",
    "client_gone",
)


def _csv_values(item: dict[str, Any]) -> list[Any]:
    moment = datetime.fromtimestamp(item["created_at"], UTC).isoformat()
    return [moment, *(item[column] for column in CSV_COLUMNS[1:])]


def _csv_line(values: Sequence[Any]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(
        [
            "" if value is None else str(value).lower() if isinstance(value, bool) else value
            for value in values
        ]
    )
    return out.getvalue().encode()


def _encode_cursor(moment: datetime, row_id: str) -> str:
    text = f"{moment.isoformat()}|{row_id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, row_id = text.split("|", 1)
        return datetime.fromisoformat(moment), row_id
    except ValueError:
        raise InvalidRequest("This cursor is not one this gateway made.", param="cursor") from None
