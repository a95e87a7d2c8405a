"""The image index: one row per stored image (``app.images_index``), and the replica leases
that let one process at a time do a periodic chore such as the retention sweep.

No foreign keys to keys or teams: like the ledger, the index is written in batches off the
request path and must accept rows of config-file keys and of the open gateway's caller.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.models.base import ID, Base


class ImageRecord(Base):
    """A stored image. ``backend`` and ``location`` say where it lives (the backend's name and
    the object's key within it, ``<id>.<format>``); ``expires_at`` is when retention deletes it
    (NULL: kept forever); ``deleted_at`` when it was deleted, by its owner or by the sweeper."""

    __tablename__ = "images"
    __table_args__ = (
        Index(None, "key_id", "created_at", "id"),  # a key's images, newest first (keyset)
        Index(None, "team_id", "created_at", "id"),  # a team's, for admins
        Index(None, "deleted_at", "expires_at"),  # the sweeper: live rows by expiry
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    key_id: Mapped[str | None] = mapped_column(ID)
    team_id: Mapped[str | None] = mapped_column(ID)
    model: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    format: Mapped[str] = mapped_column(String(8))
    width: Mapped[int] = mapped_column(Integer())
    height: Mapped[int] = mapped_column(Integer())
    bytes: Mapped[int] = mapped_column(BigInteger())
    backend: Mapped[str] = mapped_column(String(32), server_default="local")
    location: Mapped[str] = mapped_column(String(1024), doc="the object's key in its backend")
    expires_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    prompt: Mapped[str | None] = mapped_column(Text(), doc="NULL when prompts are not stored")


class ReplicaLease(Base):
    """Who may do a chore (``name``) until ``expires_at``. Taken and renewed with one
    conditional UPDATE (``app.images_index.lease``), so two replicas never both hold it."""

    __tablename__ = "replica_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime]
