"""Pure pieces: URLs as users write them, masked secrets, exact money."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.db.engine import create_engine
from app.db.money import ROUND_FLOOR, to_nanos, to_usd
from app.db.urls import DatabaseURLError, async_url, mask, masked


@pytest.mark.parametrize(
    ("written", "driver", "database"),
    [
        ("postgresql://alice@db.internal/imagegate", "postgresql+asyncpg", "imagegate"),
        ("postgres://alice:pw@db.internal:6432/ig", "postgresql+asyncpg", "ig"),
        ("postgresql+asyncpg://alice@db/imagegate", "postgresql+asyncpg", "imagegate"),
        ("sqlite:///data/imagegate.sqlite3", "sqlite+aiosqlite", "data/imagegate.sqlite3"),
        ("sqlite+aiosqlite:////abs/x.db", "sqlite+aiosqlite", "/abs/x.db"),
    ],
)
def test_urls_as_users_write_them_get_the_async_driver(
    written: str, driver: str, database: str
) -> None:
    url = async_url(written)
    assert (url.drivername, url.database) == (driver, database)


def test_libpq_sslmode_becomes_asyncpg_ssl() -> None:
    url = async_url("postgresql://u@h/db?sslmode=require")
    assert dict(url.query) == {"ssl": "require"}


@pytest.mark.parametrize("written", ["mysql://root:s3cr3t-pw@h/db", "postgresql+psycopg2://u:s3cr3t-pw@h/db",
                                     "not a url s3cr3t-pw", "postgresql://u:s3cr3t-pw@h:notaport/db"])  # fmt: skip
def test_unusable_urls_are_refused_without_the_password(written: str) -> None:
    with pytest.raises(DatabaseURLError) as caught:
        async_url(written)
    assert "s3cr3t-pw" not in str(caught.value)


def test_passwords_are_masked_in_messages_and_in_the_engine() -> None:
    assert mask("failed: postgresql://bob:hunter2@db:5432/x and more") == (
        "failed: postgresql://bob:***@db:5432/x and more"
    )
    assert masked("postgres://bob:hunter2@db/x") == "postgres://bob:***@db/x"
    assert masked(async_url("postgres://bob:hunter2@db/x")) == "postgresql+asyncpg://bob:***@db/x"
    engine = create_engine("postgresql://bob:hunter2@db.invalid/x")
    assert "hunter2" not in repr(engine) and "hunter2" not in str(engine.url)
    assert engine.pool._pre_ping  # private, but the only way to see it


def test_money_is_exact_integer_nanos_and_refuses_floats() -> None:
    assert to_nanos(Decimal("0.04")) == 40_000_000
    assert to_nanos("0.000000075") == 75
    assert to_nanos(Decimal("0.0000000001")) == 1  # holds round up
    assert to_nanos(Decimal("0.0000000019"), rounding=ROUND_FLOOR) == 1  # budgets round down
    assert to_usd(40_000_000) == Decimal("0.04")
    assert sum(to_nanos("0.1") for _ in range(10)) == to_nanos(1)
    with pytest.raises(TypeError):
        to_nanos(0.1)  # type: ignore[arg-type]  # the point: floats are refused at run time
    with pytest.raises(ValueError, match="out of range"):
        to_nanos(Decimal("1e12"))
