"""Idempotency answers in the database's ``idempotency_results`` table: a retry with the same
``Idempotency-Key`` gets the stored answer after a restart, or from another process, without a
new upstream call.

The row is also the claim. The process whose INSERT creates it (state ``pending``) runs the
request; a repeat finds the row and waits: woken at once in the same process, polling from
another. A claim whose ``claim_expires_at`` passed (its process died mid-request), an answer
past ``expires_at`` and a released key are taken over by one conditional UPDATE. Only
successes are kept: after a failure the row is deleted, so a client's retry really retries.
An answer keeps image references (stored images are in storage), never input images.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import fields
from typing import Any

import orjson
from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config.runtime import IdempotencyConfig
from app.db.models import IdempotencyResult
from app.db.types import from_timestamp
from app.domain import Generation, StoredImage, StoredRef
from app.errors import Conflict
from app.state.db_jobs import instance_id
from app.state.idempotency import references_only

PURGE_EVERY = 600.0  # seconds between deletions of expired answers
_GENERATION = frozenset(f.name for f in fields(Generation))
_IMAGE = frozenset(f.name for f in fields(StoredImage))


class DbIdempotencyStore:
    def __init__(
        self,
        engine: AsyncEngine,
        config: IdempotencyConfig,
        *,
        claim_ttl: float,
        instance: str | None = None,
        clock: Callable[[], float] = time.time,
        poll: float = 0.05,
    ) -> None:
        self._engine = engine
        self._ttl = config.ttl
        self._claim_ttl = claim_ttl
        self._instance = instance or instance_id()
        self._clock = clock
        self._poll = poll
        self._settled: dict[str, asyncio.Event] = {}  # keys this process runs now
        self._purged = float("-inf")
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    async def begin(self, key: str, fingerprint: str) -> Generation | None:
        scope, name = _split(key)
        delay = self._poll
        while True:
            now = self._clock()
            if now - self._purged > PURGE_EVERY:
                await self.purge_expired()
            if await self._claim(scope, name, fingerprint, now):
                self._settled[key] = asyncio.Event()
                return None
            async with self._engine.connect() as connection:
                row = (await connection.execute(_select(scope, name))).first()
            if row is None or _free(row, now):
                continue  # released meanwhile: claim it on the next turn
            if row.fingerprint != fingerprint:
                raise Conflict(
                    "This Idempotency-Key was already used with a different request.",
                    code="idempotency_key_reused",
                )
            if row.state == "succeeded" and row.response_body is not None:
                return decode(row.response_body)
            await self._wait(key, delay)
            delay = min(delay * 2, 0.5)

    async def finish(self, key: str, answer: Generation) -> None:
        scope, name = _split(key)
        kept = references_only(answer)
        refs = [image.ref.id for image in kept.images if image.ref is not None]
        async with self._engine.begin() as connection:
            await connection.execute(
                _mine(update(IdempotencyResult), scope, name, self._instance).values(
                    state="succeeded",
                    status_code=200,
                    response_body=encode(kept),
                    response_refs=refs,
                    claimed_by=None,
                    claim_expires_at=None,
                )
            )
        self._wake(key)

    async def abandon(self, key: str) -> None:
        scope, name = _split(key)
        try:
            async with self._engine.begin() as connection:
                await connection.execute(
                    _mine(delete(IdempotencyResult), scope, name, self._instance)
                )
        finally:
            self._wake(key)

    async def purge_expired(self) -> None:
        now = self._clock()
        self._purged = now
        async with self._engine.begin() as connection:
            await connection.execute(
                delete(IdempotencyResult).where(IdempotencyResult.expires_at <= from_timestamp(now))
            )

    async def _claim(self, scope: str, name: str, fingerprint: str, now: float) -> bool:
        """Create the key's row, or take over one that is free; True when this request owns it."""
        values: dict[str, Any] = {
            "fingerprint": fingerprint,
            "state": "pending",
            "claimed_by": self._instance,
            "claim_expires_at": from_timestamp(now + self._claim_ttl),
            "created_at": from_timestamp(now),
            "expires_at": from_timestamp(now + self._ttl),
            "status_code": None,
            "response_body": None,
            "response_refs": None,
        }
        row = {"scope": scope, "key": name, **values}
        insert = self._insert(IdempotencyResult).values(**row).on_conflict_do_nothing()
        async with self._engine.begin() as connection:
            created = await connection.execute(insert.returning(IdempotencyResult.key))
            if created.first() is not None:
                return True
            taken = await connection.execute(
                update(IdempotencyResult)
                .where(
                    IdempotencyResult.scope == scope,
                    IdempotencyResult.key == name,
                    _free_clause(from_timestamp(now)),
                )
                .values(**values)
            )
            return taken.rowcount == 1

    async def _wait(self, key: str, delay: float) -> None:
        """Until the key's request ends: an event in this process, else the next poll."""
        event = self._settled.get(key)
        if event is None:
            await asyncio.sleep(delay)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout=max(delay, 1.0))

    def _wake(self, key: str) -> None:
        event = self._settled.pop(key, None)
        if event is not None:
            event.set()


def _split(key: str) -> tuple[str, str]:
    """``<principal id>:<client key>`` (``app.run.runner.request_key``) into its two columns."""
    scope, _, name = key.partition(":")
    return scope, name


def _select(scope: str, name: str) -> Any:
    return select(IdempotencyResult).where(
        IdempotencyResult.scope == scope, IdempotencyResult.key == name
    )


def _mine(statement: Any, scope: str, name: str, instance: str) -> Any:
    return statement.where(
        IdempotencyResult.scope == scope,
        IdempotencyResult.key == name,
        IdempotencyResult.state == "pending",
        IdempotencyResult.claimed_by == instance,
    )


def _free_clause(now: Any) -> Any:
    return or_(
        IdempotencyResult.expires_at <= now,
        IdempotencyResult.state == "failed",
        and_(IdempotencyResult.state == "pending", IdempotencyResult.claim_expires_at <= now),
    )


def _free(row: Any, now: float) -> bool:
    if row.expires_at.timestamp() <= now or row.state == "failed":
        return True
    claim = row.claim_expires_at
    return bool(row.state == "pending" and claim is not None and claim.timestamp() <= now)


def encode(generation: Generation) -> bytes:
    """A generation as JSON (orjson writes dataclasses): what a replay renders again."""
    return orjson.dumps(generation)


def decode(body: bytes) -> Generation:
    """The generation :func:`encode` wrote; fields this version does not know are dropped."""
    data = {k: v for k, v in orjson.loads(body).items() if k in _GENERATION}
    images = tuple(_image(item) for item in data.pop("images", ()))
    for name in ("adjustments", "attempts", "attempt_seconds"):
        data[name] = tuple(data.get(name) or ())
    return Generation(images=images, **data)


def _image(item: dict[str, Any]) -> StoredImage:
    values = {k: v for k, v in item.items() if k in _IMAGE}
    ref = values.pop("ref", None)
    return StoredImage(ref=None if ref is None else StoredRef(**ref), **values)
