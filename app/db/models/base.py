"""The declarative base, the naming convention, and the policy columns keys and teams share."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Integer, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.db.types import UtcDateTime

# Deterministic constraint names: Alembic can then drop or alter them on both databases.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
BUDGET_PERIODS = ("day", "week", "month", "total")
ID = String(40)  # app-generated ids such as "key_3f9a...": short, URL-safe, prefix tells the kind


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JSON(), list[str]: JSON()}


class Policy:
    """Image-native limits (issue 12 §3), the same columns on a key and on its team. NULL means
    "no limit of this kind"; a team's limits cap all of its keys together."""

    models: Mapped[list[str] | None] = mapped_column(JSON(), doc="allowed models; NULL: all")
    max_n: Mapped[int | None] = mapped_column(Integer())
    max_pixels: Mapped[int | None] = mapped_column(BigInteger(), doc="per output image")
    qualities: Mapped[list[str] | None] = mapped_column(JSON(), doc="allowed; NULL: all")
    max_edit_images: Mapped[int | None] = mapped_column(Integer())
    images_per_minute: Mapped[int | None] = mapped_column(Integer())
    requests_per_minute: Mapped[int | None] = mapped_column(Integer())
    max_concurrent: Mapped[int | None] = mapped_column(Integer())
    budget_nanos: Mapped[int | None] = mapped_column(BigInteger(), doc="USD 1e-9 (app.db.money)")
    budget_period: Mapped[str] = mapped_column(String(8), default="month", server_default="month")
    # Stored images (``app.images_index``): how long they are kept (seconds; 0: forever; NULL:
    # the team's, else the deployment's ``storage.retention``) and how their URLs are minted.
    retention_seconds: Mapped[int | None] = mapped_column(BigInteger())
    url_mode: Mapped[str | None] = mapped_column(String(8), doc="public | signed | proxy")
    # ``metadata`` is taken by the declarative base: the attribute is ``meta``, the column not.
    meta: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSON(), default=dict, server_default="{}"
    )


def policy_checks() -> tuple[CheckConstraint, ...]:
    """The policy's CHECK constraints, fresh objects for each table that has a policy."""
    periods = ", ".join(f"'{p}'" for p in BUDGET_PERIODS)
    positive = ("max_n", "max_pixels", "max_edit_images", "images_per_minute",
                "requests_per_minute", "max_concurrent")  # fmt: skip
    return (
        CheckConstraint(f"budget_period IN ({periods})", name="budget_period"),
        CheckConstraint("budget_nanos >= 0", name="budget_nanos"),
        *(CheckConstraint(f"{column} > 0", name=column) for column in positive),
    )
