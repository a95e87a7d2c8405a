"""Many-row inserts without SQLAlchemy's per-row work, for the usage ledger's batches.

A Core ``insert`` given a list of dicts costs, for every row, a pass over every column's bind
processor, a parameter dict built by the compiler and a tuple built from it (the ledger as a
whole was ~9% of a small request's instructions). Here that
work is done once per table: the statement is compiled once for the engine's dialect (its
paramstyle, quoting, casts and ``ON CONFLICT`` clause are SQLAlchemy's own), and each row is
turned into the tuple the driver takes, with only the columns that need it converted. The
tuples go to the driver through ``exec_driver_sql`` in the caller's transaction, so SQLAlchemy
still starts the transaction (asyncpg starts one lazily), serialises access to the connection
and wraps driver errors (a duplicate key is still ``sqlalchemy.exc.IntegrityError``).

On SQLite the rows go straight to aiosqlite's ``executemany``: one trip to its thread where
SQLAlchemy's adapter makes three (open a cursor, run, close it). The statement still runs in
the transaction SQLAlchemy began (SQLite's driver opens it at the first write), and a driver
error is raised as the same ``sqlalchemy.exc`` class SQLAlchemy would raise.

The columns are the table's, in the compiled statement's order: a row that lacks one fails with
``KeyError`` at once, so a column added to a model is never silently left out. The values
written are the ones the Core insert wrote: ``UtcDateTime`` converts as its ``bind_value``
says (the same text on SQLite), booleans go to the driver as Python bools (SQLite stores them
as 1/0 as SQLAlchemy's ``int()`` did; asyncpg refuses anything else), and any other type with a
bind processor (JSON: its serializer, ``None`` as JSON ``null``) keeps SQLAlchemy's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from operator import itemgetter
from typing import Any

from sqlalchemy import Boolean, Dialect, Table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Insert

from app.db.types import UtcDateTime

Convert = Callable[[Any], Any]


class BulkInsert:
    """``statement`` (an ``insert`` of a table, perhaps with ``on_conflict_do_nothing``) for
    ``dialect``, run for many rows at once."""

    def __init__(self, statement: Insert, dialect: Dialect) -> None:
        table = statement.table
        if not isinstance(table, Table):
            raise TypeError("a bulk insert writes one table")
        names = [column.name for column in table.columns]
        compiled = statement.compile(dialect=dialect, column_keys=names)
        order = compiled.positiontup
        if not dialect.positional or order is None or sorted(order) != sorted(names):
            raise ValueError(f"cannot bind {table.name}'s columns positionally on {dialect.name}")
        self.table = table
        self.sql = compiled.string
        self._driver_errors: type[Exception] | None = getattr(dialect.dbapi, "Error", None)
        self._direct = dialect.driver == "aiosqlite" and self._driver_errors is not None
        self.columns: tuple[str, ...] = tuple(order)
        self._get = itemgetter(*self.columns)
        self._convert = tuple(
            (index, convert)
            for index, name in enumerate(self.columns)
            if (convert := driver_converter(table.c[name].type, dialect)) is not None
        )

    def values(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        """The driver's parameters for ``row`` (one value per column, by name)."""
        values: tuple[Any, ...] = self._get(row)
        if not self._convert:
            return values
        converted = list(values)
        for index, convert in self._convert:
            converted[index] = convert(converted[index])
        return tuple(converted)

    async def run(self, connection: AsyncConnection, rows: list[tuple[Any, ...]]) -> None:
        """Insert ``rows`` (from :meth:`values`) in ``connection``'s transaction."""
        if not self._direct:
            await connection.exec_driver_sql(self.sql, rows)
            return
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None and self._driver_errors is not None
        try:
            await driver.executemany(self.sql, rows)
        except self._driver_errors as exc:
            raise DBAPIError.instance(
                self.sql, None, exc, self._driver_errors, hide_parameters=True
            ) from exc


def driver_converter(type_: Any, dialect: Dialect) -> Convert | None:
    """What turns a column's Python value into the driver's (None: nothing to do)."""
    if isinstance(type_, UtcDateTime):
        return UtcDateTime.bind_value(dialect.name)
    if isinstance(type_, Boolean):
        return None
    processor: Convert | None = type_._cached_bind_processor(dialect)
    return processor
