"""The async-job store in SQLite: one file, safe across restarts, shared by the workers of one
host. Blocking sqlite3 calls run in worker threads; callers see the async ``JobStore``.

Job times (created, completed, expiry) are wall-clock: they are shown to users and must mean
the same thing after a restart, which a monotonic clock does not.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from app.errors import Conflict
from app.state.base import JobRecord, JobStatus, RequestKey

_SCHEMA = """
create table if not exists jobs (
    id text primary key, caller text not null, status text not null,
    created_at real not null, completed_at real, expires_at real not null,
    result blob, error blob
);
create index if not exists jobs_expiry on jobs (expires_at);
create index if not exists jobs_status on jobs (status);
"""
# Added later: databases from before idempotent jobs gain the columns on open.
_KEY_COLUMNS = ("idempotency_key", "fingerprint")
_KEY_INDEX = "create unique index if not exists jobs_key on jobs (caller, idempotency_key)"
_FIELDS = "id, status, created_at, completed_at, result, error"


class SqliteJobStore:
    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("pragma journal_mode=wal")
            self._db.executescript(_SCHEMA)
            present = {row[1] for row in self._db.execute("pragma table_info(jobs)")}
            for column in _KEY_COLUMNS:
                if column not in present:
                    self._db.execute(f"alter table jobs add column {column} text")
            self._db.execute(_KEY_INDEX)

    async def create(
        self, job_id: str, owner: str, ttl: float, key: RequestKey | None = None
    ) -> tuple[JobRecord, bool]:
        return await asyncio.to_thread(self._create, job_id, owner, ttl, key)

    def _create(
        self, job_id: str, owner: str, ttl: float, key: RequestKey | None
    ) -> tuple[JobRecord, bool]:
        now = self._clock()
        with self._lock:
            cursor = self._db.execute(
                "insert into jobs (id, caller, status, created_at, expires_at, idempotency_key,"
                " fingerprint) values (?,?,?,?,?,?,?) on conflict do nothing",
                (job_id, owner, "queued", now, now + ttl, key and key.key, key and key.fingerprint),
            )
            if cursor.rowcount == 1 or key is None:
                return JobRecord(job_id, "queued", now), True
            row = self._db.execute(
                f"select {_FIELDS}, fingerprint from jobs where caller=? and idempotency_key=?",
                (owner, key.key),
            ).fetchone()
        if row[-1] != key.fingerprint:
            raise Conflict(
                "This Idempotency-Key was already used with a different request.",
                code="idempotency_key_reused",
            )
        return JobRecord(*row[:-1]), False

    async def update(
        self,
        job_id: str,
        status: JobStatus,
        *,
        result: bytes | None = None,
        error: bytes | None = None,
    ) -> None:
        await asyncio.to_thread(self._update, job_id, status, result, error)

    def _update(
        self, job_id: str, status: JobStatus, result: bytes | None, error: bytes | None
    ) -> None:
        finished = self._clock() if status in ("succeeded", "failed") else None
        with self._lock:
            self._db.execute(
                "update jobs set status=?, completed_at=?, result=?, error=? where id=?",
                (status, finished, result, error, job_id),
            )

    async def get(self, job_id: str, owner: str) -> JobRecord | None:
        return await asyncio.to_thread(self._get, job_id, owner)

    def _get(self, job_id: str, owner: str) -> JobRecord | None:
        with self._lock:
            row = self._db.execute(
                f"select {_FIELDS} from jobs where id=? and caller=? and expires_at>?",
                (job_id, owner, self._clock()),
            ).fetchone()
        return None if row is None else JobRecord(*row)

    async def unfinished(self) -> int:
        return await asyncio.to_thread(self._unfinished)

    def _unfinished(self) -> int:
        with self._lock:
            row = self._db.execute(
                "select count(*) from jobs where status in ('queued','running')"
            ).fetchone()
        return int(row[0])

    async def by_status(self) -> dict[str, int]:
        """Unexpired jobs by status, for the metrics (every status present, zero or not)."""
        return await asyncio.to_thread(self._by_status)

    def _by_status(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute(
                "select status, count(*) from jobs where expires_at>? group by status",
                (self._clock(),),
            ).fetchall()
        counts = dict.fromkeys(("queued", "running", "succeeded", "failed"), 0)
        counts.update({str(status): int(count) for status, count in rows})
        return counts

    async def fail_unfinished(self, error: bytes) -> int:
        return await asyncio.to_thread(self._fail_unfinished, error)

    def _fail_unfinished(self, error: bytes) -> int:
        with self._lock:
            cursor = self._db.execute(
                "update jobs set status='failed', completed_at=?, error=? "
                "where status in ('queued','running')",
                (self._clock(), error),
            )
        return cursor.rowcount

    async def purge_expired(self) -> None:
        await asyncio.to_thread(self._purge_expired)

    def _purge_expired(self) -> None:
        with self._lock:
            self._db.execute("delete from jobs where expires_at<=?", (self._clock(),))

    async def close(self) -> None:
        with self._lock:
            self._db.close()
