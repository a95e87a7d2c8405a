"""Keys and teams in the database: create, list, show, update, rotate and revoke. The admin API
(``/admin/v1``) and the ``imagegate keys|teams`` commands share this one repository.

A client key's secret is ``ig-`` plus 192 random bits; only its SHA-256 is stored (the secret
has too much entropy for a fast hash to be brute-forced), with a short prefix for list views.
Create and rotate return the secret once; nothing here logs it. A rotation keeps the old
secret working until ``previous_expires_at`` (the grace period). Keys and teams are looked up
by id, or by name among those still active.

Every write starts with its write (``UPDATE ... RETURNING``, ``INSERT``): on SQLite a
transaction that reads first could not wait for the lock (``app.db.engine``).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.access.fields import (
    KeyCreate,
    KeyUpdate,
    PolicyFields,
    TeamCreate,
    TeamUpdate,
)
from app.access.views import KeyView, TeamView, key_view, team_view
from app.db.models import ApiKey, Team
from app.errors import Conflict, GatewayError, InvalidRequest, NotFound

SECRET_PREFIX = "ig-"
SHOWN_PREFIX = 10  # characters of a secret list views show: "ig-" and 7 more
ResolveModel = Callable[[str], str]  # a model name or alias -> the model's name


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(24)


def hash_secret(secret: str) -> str:
    """What ``api_keys.key_hash`` (and ``previous_hash``) hold: the SHA-256, in hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


class Registry:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        resolve_model: ResolveModel | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._engine = engine
        self._resolve = resolve_model
        self._clock = clock or (lambda: datetime.now(UTC))
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    def now(self) -> datetime:
        return self._clock()

    # Keys

    async def create_key(self, fields: KeyCreate) -> tuple[KeyView, str]:
        """The new key and its secret (shown once)."""
        now = self._clock()
        secret = new_secret()
        values = {
            **self._policy(fields, creating=True),
            "id": "key_" + secrets.token_hex(10),
            "name": fields.name,
            "key_hash": hash_secret(secret),
            "prefix": secret[:SHOWN_PREFIX],
            "created_at": now,
            "updated_at": now,
            "expires_at": fields.expires_at,
        }
        await self._refuse_taken_key_name(fields.name)
        async with self._engine.begin() as connection:
            values["team_id"] = await self._team_for_key(connection, fields.team, now)
            await connection.execute(insert(ApiKey).values(**values))
        return await self.get_key(values["id"]), secret

    async def list_keys(self, *, team: str | None = None, revoked: bool = False) -> list[KeyView]:
        query = _keys()
        if team is not None:
            query = query.where(ApiKey.team_id == (await self.get_team(team)).id)
        if not revoked:
            query = query.where(ApiKey.revoked_at.is_(None))
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query.order_by(ApiKey.created_at, ApiKey.id))).all()
        return [key_view(row) for row in rows]

    async def get_key(self, ref: str) -> KeyView:
        async with self._engine.connect() as connection:
            rows = (await connection.execute(_keys().where(_named(ApiKey, ref)))).all()
        return key_view(_one(rows, "key", ref))

    async def update_key(self, ref: str, fields: KeyUpdate) -> KeyView:
        key = await self.get_key(ref)
        sent = fields.model_fields_set
        values = {**self._policy(fields, creating=False), "updated_at": self._clock()}
        if "name" in sent and fields.name is not None and fields.name != key.name:
            await self._refuse_taken_key_name(fields.name)
            values["name"] = fields.name
        if "expires_at" in sent:
            values["expires_at"] = fields.expires_at
        async with self._engine.begin() as connection:
            if "team" in sent:
                values["team_id"] = await self._team_for_key(connection, fields.team, self._clock())
            await connection.execute(update(ApiKey).where(ApiKey.id == key.id).values(**values))
        return await self.get_key(key.id)

    async def rotate_key(self, ref: str, grace_seconds: int) -> tuple[KeyView, str]:
        """A new secret for the key; the old one works for ``grace_seconds`` more."""
        key = await self.get_key(ref)
        now = self._clock()
        secret = new_secret()
        async with self._engine.begin() as connection:
            rotated = await connection.execute(
                update(ApiKey)
                .where(ApiKey.id == key.id, ApiKey.revoked_at.is_(None))
                .values(
                    previous_hash=ApiKey.key_hash,  # SET reads the row as it was
                    previous_expires_at=now + timedelta(seconds=grace_seconds),
                    key_hash=hash_secret(secret),
                    prefix=secret[:SHOWN_PREFIX],
                    updated_at=now,
                )
            )
        if rotated.rowcount != 1:
            raise Conflict(f"Key '{key.name}' is revoked: it cannot be rotated.", param="id")
        return await self.get_key(key.id), secret

    async def revoke_key(self, ref: str) -> KeyView:
        """Revoke at once (in-flight requests finish); revoking twice changes nothing."""
        key = await self.get_key(ref)
        now = self._clock()
        async with self._engine.begin() as connection:
            await connection.execute(
                update(ApiKey)
                .where(ApiKey.id == key.id, ApiKey.revoked_at.is_(None))
                .values(revoked_at=now, updated_at=now, previous_expires_at=None)
            )
        return await self.get_key(key.id)

    # Teams

    async def create_team(self, fields: TeamCreate) -> TeamView:
        now = self._clock()
        team_id = "team_" + secrets.token_hex(8)
        values = {**self._policy(fields, creating=True), "id": team_id, "name": fields.name}
        async with self._engine.begin() as connection:
            created = await connection.execute(
                self._insert(Team)
                .values(**values, created_at=now, updated_at=now)
                .on_conflict_do_nothing()
                .returning(Team.id)
            )
            if created.first() is None:
                raise Conflict(f"A team named '{fields.name}' exists already.", param="name")
        return await self.get_team(team_id)

    async def list_teams(self, *, deleted: bool = False) -> list[TeamView]:
        query = _teams() if deleted else _teams().where(Team.deleted_at.is_(None))
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query.order_by(Team.created_at, Team.id))).all()
        return [team_view(row) for row in rows]

    async def get_team(self, ref: str) -> TeamView:
        async with self._engine.connect() as connection:
            rows = (await connection.execute(_teams().where(_named(Team, ref)))).all()
        return team_view(_one(rows, "team", ref))

    async def update_team(self, ref: str, fields: TeamUpdate) -> TeamView:
        team = await self.get_team(ref)
        values = {**self._policy(fields, creating=False), "updated_at": self._clock()}
        if fields.name is not None and fields.name != team.name:
            values["name"] = fields.name
        async with self._engine.begin() as connection:
            try:
                await connection.execute(update(Team).where(Team.id == team.id).values(**values))
            except IntegrityError:  # the unique name
                raise Conflict(
                    f"A team named '{fields.name}' exists already.", param="name"
                ) from None
        return await self.get_team(team.id)

    async def delete_team(self, ref: str) -> TeamView:
        """Delete a team that has no active keys left (revoke or move them first)."""
        team = await self.get_team(ref)
        if team.keys:
            raise Conflict(
                f"Team '{team.name}' still has {team.keys} active key(s): revoke or move them "
                "first.",
                param="id",
            )
        now = self._clock()
        async with self._engine.begin() as connection:
            await connection.execute(
                update(Team)
                .where(Team.id == team.id, Team.deleted_at.is_(None))
                .values(deleted_at=now, updated_at=now)
            )
        return await self.get_team(team.id)

    # Helpers

    def _policy(self, fields: PolicyFields, *, creating: bool) -> dict[str, Any]:
        values = fields.policy_values(creating=creating)
        models = values.get("models")
        if models and self._resolve is not None:
            values["models"] = list(dict.fromkeys(self._model(name) for name in models))
        return values

    def _model(self, name: str) -> str:
        assert self._resolve is not None
        try:
            return self._resolve(name)
        except GatewayError:
            raise InvalidRequest(f"Unknown model '{name[:100]}'.", param="models") from None

    async def _refuse_taken_key_name(self, name: str) -> None:
        async with self._engine.connect() as connection:
            taken = await connection.scalar(
                select(func.count())
                .select_from(ApiKey)
                .where(ApiKey.name == name, ApiKey.revoked_at.is_(None))
            )
        if taken:
            raise Conflict(f"An active key named '{name}' exists already.", param="name")

    async def _team_for_key(
        self, connection: AsyncConnection, ref: str | None, now: datetime
    ) -> str | None:
        """The team's id; a name no team has yet creates that team (with no limits)."""
        if ref is None:
            return None
        await connection.execute(  # a write first (SQLite): insert the team if it is new
            self._insert(Team)
            .values(
                id="team_" + secrets.token_hex(8),
                name=ref,
                created_at=now,
                updated_at=now,
                budget_period="month",
                meta={},
            )
            .on_conflict_do_nothing()
        )
        found = await connection.execute(
            select(Team.id).where(_named(Team, ref), Team.deleted_at.is_(None))
        )
        team_id = found.scalar()
        if team_id is None:
            raise NotFound(f"No active team '{ref[:100]}'.", param="team")
        return str(team_id)


def _keys() -> Any:
    return select(ApiKey, Team.name.label("team_name")).outerjoin(Team, ApiKey.team_id == Team.id)


def _teams() -> Any:
    active = (
        select(func.count())
        .where(ApiKey.team_id == Team.id, ApiKey.revoked_at.is_(None))
        .scalar_subquery()
    )
    return select(Team, active.label("active_keys"))


def _named(table: Any, ref: str) -> Any:
    alive = table.revoked_at.is_(None) if table is ApiKey else table.deleted_at.is_(None)
    return or_(table.id == ref, (table.name == ref) & alive)


def _one(rows: Sequence[Any], kind: str, ref: str) -> Any:
    if not rows:
        raise NotFound(f"No {kind} '{ref[:100]}'.", param="id")
    if len(rows) > 1:
        exact = [row for row in rows if row.id == ref]
        if len(exact) == 1:
            return exact[0]
        raise Conflict(f"Several {kind}s are named '{ref[:100]}': use the id.", param="id")
    return rows[0]
