"""What an admin sets on a key or a team, validated once for the admin API and the CLI.

The policy fields (issue 12 §3) are the same on keys and teams; ``null`` means "no limit of
this kind". A create applies defaults; an update changes only the fields it names (so a
field sent as ``null`` clears that limit). ``budget_usd`` is decimal USD, stored as integer
nano-dollars rounded down: a cap is never rounded above itself.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.config.durations import parse_duration
from app.db.money import ROUND_FLOOR, to_nanos

BudgetPeriod = Literal["day", "week", "month", "total"]
Limit = int | None  # a positive whole number, or no limit
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.@ -]*$"
MAX_BUDGET_USD = Decimal(1_000_000_000)
MAX_RETENTION = 100 * 365 * 86_400  # seconds: a century

# Column names of the policy on ``api_keys`` and ``teams`` (``app.db.models.base.Policy``).
POLICY_COLUMNS = (
    "models",
    "max_n",
    "max_pixels",
    "qualities",
    "max_edit_images",
    "images_per_minute",
    "requests_per_minute",
    "max_concurrent",
    "url_mode",
)
UrlMode = Literal["public", "signed", "proxy"]


class PolicyFields(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    models: list[str] | None = Field(None, min_length=1, description="allowed models; aliases")
    max_n: Limit = Field(None, gt=0)
    max_pixels: Limit = Field(None, gt=0, description="per output image")
    qualities: list[str] | None = Field(None, min_length=1)
    max_edit_images: Limit = Field(None, gt=0)
    images_per_minute: Limit = Field(None, gt=0)
    requests_per_minute: Limit = Field(None, gt=0)
    max_concurrent: Limit = Field(None, gt=0)
    budget_usd: Decimal | None = Field(None, ge=0, le=MAX_BUDGET_USD)
    budget_period: BudgetPeriod | None = None
    metadata: dict[str, Any] | None = None
    # Stored images (app.images_index): seconds kept (0: forever; null: the team's, else the
    # deployment's storage.retention), and how their URLs are minted (null: the deployment's).
    retention: int | None = Field(
        None, ge=0, le=MAX_RETENTION, description="90s, 12h, 30d or seconds; 0: forever"
    )
    url_mode: UrlMode | None = None

    @field_validator("retention", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        if value is None:
            return None
        return math.ceil(parse_duration(value))  # whole seconds, never shorter than asked

    @field_validator("models", "qualities")
    @classmethod
    def _names(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        names = [name.strip() for name in value if name.strip()]
        if not names:
            raise ValueError("list at least one name, or send null for no restriction")
        return list(dict.fromkeys(names))

    @field_validator("budget_usd", mode="before")
    @classmethod
    def _no_float_surprises(cls, value: Any) -> Any:
        # JSON numbers arrive as floats: their shortest text is the decimal the client wrote.
        return str(value) if isinstance(value, float) else value

    def policy_values(self, *, creating: bool) -> dict[str, Any]:
        """Column values: every policy column on create, only the fields sent on update."""
        sent = self.model_fields_set
        values: dict[str, Any] = {
            column: getattr(self, column) for column in POLICY_COLUMNS if creating or column in sent
        }
        if creating or "budget_usd" in sent:
            budget = self.budget_usd
            values["budget_nanos"] = (
                None if budget is None else to_nanos(budget, rounding=ROUND_FLOOR)
            )
        if creating or "budget_period" in sent:
            values["budget_period"] = self.budget_period or "month"
        if creating or "retention" in sent:
            values["retention_seconds"] = self.retention
        if creating or "metadata" in sent:
            values["meta"] = dict(self.metadata or {})
        return values


class TeamCreate(PolicyFields):
    name: str = Field(min_length=1, max_length=200, pattern=_NAME)


class TeamUpdate(PolicyFields):
    name: str | None = Field(None, min_length=1, max_length=200, pattern=_NAME)


class KeyCreate(PolicyFields):
    name: str = Field(min_length=1, max_length=200, pattern=_NAME)
    team: str | None = Field(
        None, max_length=200, pattern=_NAME, description="team name or id; a new name creates it"
    )
    expires_at: datetime | None = Field(None, description="ISO 8601 or Unix seconds")

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return aware(value)


class KeyUpdate(PolicyFields):
    name: str | None = Field(None, min_length=1, max_length=200, pattern=_NAME)
    team: str | None = Field(None, max_length=200, pattern=_NAME)
    expires_at: datetime | None = None

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return aware(value)


class Rotation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    grace_seconds: int = Field(
        86_400, ge=0, le=90 * 86_400, description="how long the old secret keeps working"
    )


def aware(value: datetime | None) -> datetime | None:
    """A time without a zone is taken as UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
