"""Replica leases: one process at a time does a periodic chore (the retention sweep), whichever
of the gateway's processes and replicas it is.

A lease is a row of ``replica_leases``: the chore's name, its holder and until when. It is taken
or renewed with one conditional UPDATE (``owner`` is me, or the lease has expired), and created
with an INSERT that does nothing on conflict; the database decides, so two processes asking at
the same moment never both get it. A holder that dies simply stops renewing: another takes the
lease over once it expires. Times are wall-clock (shared between hosts), from an injected clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.models import ReplicaLease


class ReplicaLeases:
    def __init__(self, engine: AsyncEngine, owner: str, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self.owner = owner
        self._clock = clock
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    async def acquire(self, name: str, ttl: float) -> bool:
        """Take or renew the lease ``name`` for ``ttl`` seconds; False when another holds it."""
        now = self._clock()
        until = now + timedelta(seconds=ttl)
        take = (
            update(ReplicaLease)
            .where(
                ReplicaLease.name == name,
                or_(ReplicaLease.owner == self.owner, ReplicaLease.expires_at <= now),
            )
            .values(owner=self.owner, expires_at=until)
        )
        create = (
            self._insert(ReplicaLease)
            .values(name=name, owner=self.owner, expires_at=until)
            .on_conflict_do_nothing()
        )
        async with self._engine.begin() as connection:
            if _count(await connection.execute(take)):
                return True
            return bool(_count(await connection.execute(create)))

    async def release(self, name: str) -> None:
        """Give the lease up at once (at shutdown), if this process holds it."""
        statement = (
            update(ReplicaLease)
            .where(ReplicaLease.name == name, ReplicaLease.owner == self.owner)
            .values(expires_at=self._clock())
        )
        async with self._engine.begin() as connection:
            await connection.execute(statement)


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
