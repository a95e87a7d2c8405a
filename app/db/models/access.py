"""Teams and API keys. Only a hash of a key's secret is stored, never the secret."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.models.base import ID, Base, Policy, policy_checks


class Team(Policy, Base):
    __tablename__ = "teams"
    __table_args__ = policy_checks()

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


class ApiKey(Policy, Base):
    """A client key. ``key_hash`` is the SHA-256 of the secret (``ig-`` plus at least 128
    random bits, so a fast hash is enough: there is nothing to brute-force); ``prefix`` is what
    list views show. Rotation keeps the old hash working until ``previous_expires_at``."""

    __tablename__ = "api_keys"
    __table_args__ = (
        *policy_checks(),
        Index(None, "team_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    team_id: Mapped[str | None] = mapped_column(ForeignKey("teams.id", ondelete="RESTRICT"))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    previous_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    previous_expires_at: Mapped[datetime | None]
