"""The image index's queries: a caller's images newest first, page by page (keyset on
``created_at``, ``id``, so a page never skips or repeats an image while new ones arrive), one
image, deleting one, and what retention has expired.

An image is *live* while it is neither deleted nor past its ``expires_at``: lists and lookups
show live images only (an expired image is gone for its owner even before the sweeper has
removed its bytes). Every write starts with its write (``UPDATE ... WHERE``), as the other
repositories do, so SQLite never has to upgrade a read lock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from app.db.models import ImageRecord as Row
from app.domain import ImageFormat, StoredRef
from app.images_index import cursor

MAX_PAGE = 100


@dataclass(frozen=True, slots=True)
class IndexedImage:
    id: str
    request_id: str
    key_id: str | None
    team_id: str | None
    model: str
    created_at: datetime
    format: str
    width: int
    height: int
    bytes: int
    backend: str
    location: str
    expires_at: datetime | None
    deleted_at: datetime | None
    prompt: str | None

    @property
    def ref(self) -> StoredRef:
        """What the storage needs to find (or delete) this image."""
        return StoredRef(self.id, cast(ImageFormat, self.format), self.bytes)


@dataclass(frozen=True, slots=True)
class ImageFilter:
    """Whose images: a key's (``key_id``), a team's, those of one request; all that are set."""

    key_id: str | None = None
    team_id: str | None = None
    request_id: str | None = None

    @property
    def scope(self) -> str:
        """What a cursor is bound to: a cursor of one list is refused by another."""
        return f"{self.key_id or ''}|{self.team_id or ''}|{self.request_id or ''}"


@dataclass(frozen=True, slots=True)
class Page:
    images: list[IndexedImage]
    next_cursor: str | None

    @property
    def has_more(self) -> bool:
        return self.next_cursor is not None


class ImageIndex:
    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime] | None = None) -> None:
        self._engine = engine
        self._clock = clock or (lambda: datetime.now(UTC))

    def now(self) -> datetime:
        return self._clock()

    async def page(self, where: ImageFilter, *, after: str | None, limit: int) -> Page:
        """Up to ``limit`` live images, newest first, after the cursor ``after``."""
        limit = max(1, min(limit, MAX_PAGE))
        query = select(Row).where(*self._live(), *_matching(where))
        if after is not None:
            created, last_id = cursor.decode(after, where.scope)
            query = query.where(
                or_(Row.created_at < created, and_(Row.created_at == created, Row.id < last_id))
            )
        query = query.order_by(Row.created_at.desc(), Row.id.desc()).limit(limit + 1)
        images = await self._select(query)
        more = len(images) > limit
        images = images[:limit]
        last = images[-1] if more else None
        next_cursor = cursor.encode(last.created_at, last.id, where.scope) if last else None
        return Page(images, next_cursor)

    async def get(self, image_id: str, key_id: str) -> IndexedImage | None:
        """The key's live image ``image_id``; None for another key's, a deleted or unknown one."""
        query = select(Row).where(Row.id == image_id, Row.key_id == key_id, *self._live())
        found = await self._select(query)
        return found[0] if found else None

    async def owned(self, image_id: str, key_id: str | None) -> IndexedImage | None:
        """The image if ``key_id`` made it (any key for None), deleted or not."""
        query = select(Row).where(Row.id == image_id)
        if key_id is not None:
            query = query.where(Row.key_id == key_id)
        found = await self._select(query)
        return found[0] if found else None

    async def mark_deleted(self, image_ids: Sequence[str]) -> int:
        """Mark images deleted (their bytes are gone); how many were not already marked."""
        if not image_ids:
            return 0
        statement = (
            update(Row)
            .where(Row.id.in_(list(image_ids)), Row.deleted_at.is_(None))
            .values(deleted_at=self._clock())
        )
        async with self._engine.begin() as connection:
            result = await connection.execute(statement)
        return int(getattr(result, "rowcount", 0) or 0)

    async def move(self, image_ids: Sequence[str], backend: str) -> int:
        """Record that these images now live in ``backend``; how many rows changed."""
        if not image_ids:
            return 0
        statement = (
            update(Row)
            .where(Row.id.in_(list(image_ids)), Row.backend != backend)
            .values(backend=backend)
        )
        async with self._engine.begin() as connection:
            result = await connection.execute(statement)
        return int(getattr(result, "rowcount", 0) or 0)

    async def expired(self, limit: int) -> list[IndexedImage]:
        """Up to ``limit`` images past their ``expires_at`` and not yet deleted, oldest first."""
        query = (
            select(Row)
            .where(Row.deleted_at.is_(None), Row.expires_at <= self._clock())
            .order_by(Row.expires_at, Row.id)
            .limit(limit)
        )
        return await self._select(query)

    def _live(self) -> tuple[ColumnElement[bool], ...]:
        now = self._clock()
        return Row.deleted_at.is_(None), or_(Row.expires_at.is_(None), Row.expires_at > now)

    async def _select(self, query: Any) -> list[IndexedImage]:
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [_image(row) for row in rows]


def _matching(where: ImageFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if where.key_id is not None:
        conditions.append(Row.key_id == where.key_id)
    if where.team_id is not None:
        conditions.append(Row.team_id == where.team_id)
    if where.request_id is not None:
        conditions.append(Row.request_id == where.request_id)
    return conditions


_FIELDS = tuple(IndexedImage.__dataclass_fields__)


def _image(row: Any) -> IndexedImage:
    mapping = row._mapping
    return IndexedImage(**{name: mapping[name] for name in _FIELDS})
