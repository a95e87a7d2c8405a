"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import DateTime, Dialect
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime in and out. PostgreSQL stores ``timestamptz``; SQLite has no time
    zones, so the value is stored as naive UTC and made aware again when read. Naive datetimes
    are refused on the way in: a wall-clock time without a zone is a bug waiting for DST."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = _utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    @staticmethod
    def bind_value(dialect_name: str) -> Callable[[datetime | None], datetime | str | None]:
        """What the driver is given for a value, all of SQLAlchemy's bind processing in one
        call (for ``app.db.bulk``): on SQLite the text its ``DATETIME`` stores (naive UTC,
        ``YYYY-MM-DD HH:MM:SS.ffffff``), elsewhere the aware UTC datetime."""
        return _sqlite_text if dialect_name == "sqlite" else _aware_utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime: pass an aware UTC datetime")
    return value.astimezone(UTC)


def _aware_utc(value: datetime | None) -> datetime | None:
    return None if value is None else _utc(value)


def _sqlite_text(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = _utc(value)
    return value.isoformat(" ", "microseconds")[:-6]  # without its "+00:00"


def json_text(value: Any) -> str:
    """JSON columns' text: orjson (several times faster than the standard library, same
    JSON), the standard library for what orjson refuses (an integer beyond 64 bits)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value)


def from_timestamp(seconds: float) -> datetime:
    """Unix seconds (wall clock) as the aware UTC datetime the columns take."""
    return datetime.fromtimestamp(seconds, UTC)
