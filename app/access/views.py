"""Keys and teams as admins see them (API answers, CLI output): never a hash, never a secret
(the secret is handed out once, beside the view, by create and rotate)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.access.fields import POLICY_COLUMNS
from app.config.durations import UNIT_SECONDS
from app.db.money import to_usd


@dataclass(frozen=True, slots=True)
class TeamRef:
    id: str
    name: str

    def as_json(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name}


@dataclass(frozen=True, slots=True)
class KeyView:
    id: str
    name: str
    team: TeamRef | None
    prefix: str
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    previous_expires_at: datetime | None
    policy: Mapping[str, Any]

    def status(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def as_json(self, now: datetime) -> dict[str, Any]:
        previous = self.previous_expires_at
        return {
            "id": self.id,
            "object": "api_key",
            "name": self.name,
            "team": None if self.team is None else self.team.as_json(),
            "prefix": self.prefix,
            "status": self.status(now),
            "created_at": unix(self.created_at),
            "updated_at": unix(self.updated_at),
            "expires_at": unix(self.expires_at),
            "revoked_at": unix(self.revoked_at),
            # The secret replaced by the last rotation works until then.
            "previous_key_expires_at": unix(previous) if previous and previous > now else None,
            **policy_json(self.policy),
        }


@dataclass(frozen=True, slots=True)
class TeamView:
    id: str
    name: str
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    keys: int  # keys of the team that are not revoked
    policy: Mapping[str, Any]

    def as_json(self, now: datetime) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "team",
            "name": self.name,
            "status": "deleted" if self.deleted_at is not None else "active",
            "created_at": unix(self.created_at),
            "updated_at": unix(self.updated_at),
            "deleted_at": unix(self.deleted_at),
            "keys": self.keys,
            **policy_json(self.policy),
        }


def policy_json(policy: Mapping[str, Any]) -> dict[str, Any]:
    """The policy under its API names: ``budget_usd`` (a number, for people) beside the exact
    ``budget_nanos``, and ``metadata``."""
    budget = policy.get("budget_nanos")
    return {
        **{column: policy.get(column) for column in POLICY_COLUMNS},
        "budget_usd": None if budget is None else float(to_usd(budget)),
        "budget_nanos": budget,
        "budget_period": policy.get("budget_period") or "month",
        "retention": retention_text(policy.get("retention_seconds")),
        "retention_seconds": policy.get("retention_seconds"),
        "metadata": policy.get("meta") or {},
    }


def retention_text(seconds: int | None) -> str | None:
    """A retention as people write it (``30d``, ``12h``; ``0``: forever), or None."""
    if seconds is None or seconds == 0:
        return None if seconds is None else "0"
    for unit in ("d", "h", "m"):
        if seconds % UNIT_SECONDS[unit] == 0:
            return f"{seconds // UNIT_SECONDS[unit]}{unit}"
    return f"{seconds}s"


def unix(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp())


def policy_of(row: Any) -> dict[str, Any]:
    """A ``teams`` or ``api_keys`` row's policy columns (``app.db.models.base.Policy``)."""
    mapping = row._mapping
    columns = (*POLICY_COLUMNS, "budget_nanos", "retention_seconds")
    policy = {column: mapping[column] for column in columns}
    policy["budget_period"] = mapping["budget_period"]
    policy["meta"] = mapping["meta"] if "meta" in mapping else mapping["metadata"]
    return policy


def key_view(row: Any) -> KeyView:
    """An ``api_keys`` row joined with its team's name (``team_name``)."""
    team = None if row.team_id is None else TeamRef(row.team_id, row.team_name)
    return KeyView(
        id=row.id,
        name=row.name,
        team=team,
        prefix=row.prefix,
        created_at=row.created_at,
        updated_at=row.updated_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        previous_expires_at=row.previous_expires_at,
        policy=policy_of(row),
    )


def team_view(row: Any) -> TeamView:
    """A ``teams`` row with its count of active keys (``active_keys``)."""
    return TeamView(
        id=row.id,
        name=row.name,
        created_at=row.created_at,
        updated_at=row.updated_at,
        deleted_at=row.deleted_at,
        keys=int(row.active_keys or 0),
        policy=policy_of(row),
    )
