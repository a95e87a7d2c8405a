"""Client keys in the database (``api_keys`` and ``teams``), looked up by the SHA-256 of the
presented secret and cached for a few seconds, so the hot path does not touch the database.

A revoked key (or a key of a deleted team) is refused once its cache entry ends, within
``ttl`` seconds; an expired key at once (its expiry travels with the principal and is checked
on every request). During a rotation's grace period the old secret still works, until
``previous_expires_at``. Requests already admitted finish whatever happens to their key.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.models import ApiKey, Team
from app.domain import NO_LIMITS, Limits, Principal

KEY_CACHE_TTL = 5.0  # seconds a lookup (found or not) is trusted
MAX_CACHED = 50_000

_POLICY = (
    "models",
    "max_n",
    "max_pixels",
    "qualities",
    "max_edit_images",
    "images_per_minute",
    "requests_per_minute",
    "max_concurrent",
    "budget_nanos",
    "budget_period",
)
_IMAGES = ("retention_seconds", "url_mode")  # the stored images' policy (app.images_index)
# A key (and its team) by the hash of a presented secret, current or previous: built once,
# so a lookup pays no statement construction.
_KEY_BY_HASH = (
    select(*ApiKey.__table__.columns, Team.name.label("team_name"), Team.deleted_at)
    .add_columns(*(getattr(Team, name).label(f"team_{name}") for name in _POLICY + _IMAGES))
    .outerjoin(Team, ApiKey.team_id == Team.id)
    .where(or_(ApiKey.key_hash == bindparam("digest"), ApiKey.previous_hash == bindparam("digest")))
)


def secret_hash(secret: str) -> str:
    """What the database stores for a secret: its SHA-256, hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


class DbKeys:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        ttl: float = KEY_CACHE_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._loading: dict[str, asyncio.Future[Principal | None]] = {}
        self._any: tuple[float, bool] | None = None

    async def authenticate(self, secret: str) -> Principal | None:
        digest = secret_hash(secret)
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > self._clock():
            return cached[1]
        loading = self._loading.get(digest)
        if loading is not None:  # the same key is being looked up: share that lookup
            return await asyncio.shield(loading)
        future: asyncio.Future[Principal | None] = asyncio.get_running_loop().create_future()
        self._loading[digest] = future
        try:
            principal = await self._load(digest)
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved: no "never retrieved" warning without waiters
            raise
        else:
            future.set_result(principal)
            if len(self._cache) >= MAX_CACHED:
                self._cache.clear()
            self._cache[digest] = (self._clock() + self._ttl, principal)
            return principal
        finally:
            del self._loading[digest]

    async def any_key(self) -> bool:
        """Whether any unrevoked key exists (a gateway without keys is open)."""
        if self._any is not None and self._any[0] > self._clock():
            return self._any[1]
        async with self._engine.connect() as connection:
            found = await connection.scalar(
                select(ApiKey.id).where(ApiKey.revoked_at.is_(None)).limit(1)
            )
        self._any = (self._clock() + self._ttl, found is not None)
        return found is not None

    async def _load(self, digest: str) -> Principal | None:
        async with self._engine.connect() as connection:
            row = (await connection.execute(_KEY_BY_HASH, {"digest": digest})).first()
        if row is None:
            return None
        key: Any = row  # Core rows: the key's columns by name, the team's prefixed
        if key.revoked_at is not None or key.deleted_at is not None:
            return None
        expires_at = key.expires_at
        if not hmac.compare_digest(key.key_hash, digest):  # the old secret of a rotation
            grace = key.previous_expires_at
            if grace is None:
                return None
            expires_at = grace if expires_at is None else min(expires_at, grace)
        return Principal(
            id=key.id,
            name=key.name,
            team=key.team_id,
            team_name=key.team_name,
            limits=_limits(key, ""),
            team_limits=_limits(key, "team_") if key.team_id is not None else NO_LIMITS,
            expires_at=expires_at,
            retention=_first(key.retention_seconds, key.team_retention_seconds),
            url_mode=_first(key.url_mode, key.team_url_mode),
        )


def _first(own: Any, team: Any) -> Any:
    """The key's own setting, else its team's (None: the deployment's)."""
    return own if own is not None else team


def _limits(row: Any, prefix: str) -> Limits:
    values = {name: getattr(row, prefix + name) for name in _POLICY}
    for name in ("models", "qualities"):
        if values[name] is not None:
            values[name] = frozenset(values[name])
    values["budget_period"] = values["budget_period"] or "month"
    limits = Limits(**values)
    return NO_LIMITS if limits == NO_LIMITS else limits  # admission skips what has no limits
