"""Money is an integer number of nano-dollars (1e-9 USD), in Python and in every column.

Why integers and not ``Numeric(18, 8)``: the budget guarantee is one conditional UPDATE
(``spent + held + amount <= budget``) evaluated *by the database*, so the arithmetic must be
exact in SQL on both engines. PostgreSQL's NUMERIC is exact, but SQLite has no decimal type: a
NUMERIC column stores REAL (a binary float) and SQLAlchemy warns that it converts through float.
A 64-bit integer is exact on both and fast. Why nano and not micro: token prices such as
$0.075 per million tokens are 75 n$ per token, exactly; in micro-dollars a single token costs a
fraction. The range still covers $9.2 billion.

Decimals are the boundary type: config prices and API answers are ``Decimal`` USD; floats are
refused so that no binary rounding slips in.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

NANOS_PER_USD = 1_000_000_000
MAX_NANOS = 2**63 - 1

__all__ = ["MAX_NANOS", "NANOS_PER_USD", "ROUND_CEILING", "ROUND_FLOOR", "to_nanos", "to_usd"]


def to_nanos(usd: Decimal | int | str, *, rounding: str = ROUND_CEILING) -> int:
    """USD to nano-dollars. Rounds up by default: a hold or a charge is never rounded below the
    real amount. Pass ``ROUND_FLOOR`` for budgets (a cap is never rounded above itself)."""
    if isinstance(usd, float | bool):
        raise TypeError("money must be a Decimal, an int or a decimal string, not a float")
    value = (Decimal(usd) * NANOS_PER_USD).to_integral_value(rounding=rounding)
    if not value.is_finite() or abs(value) > MAX_NANOS:
        raise ValueError(f"{usd} USD is out of range")
    return int(value)


def to_usd(nanos: int) -> Decimal:
    """Nano-dollars to exact USD (``Decimal("0.04")`` for 40_000_000)."""
    return (Decimal(nanos) / NANOS_PER_USD).normalize()
