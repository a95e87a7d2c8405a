"""The ``redis`` config section: where the hot state that replicas share lives.

Without ``url`` every process keeps its own rate limits, concurrency counters and cooldowns
(idempotency, budgets and async jobs are shared through the database either way). With it,
those counters and cooldowns are shared through Redis, and idempotency claims are made there
in front of the database's answers. ``IMAGEGATE_REDIS_URL`` overrides ``url``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

OnFailure = Literal["local", "refuse"]


class RedisConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    url: SecretStr | None = Field(None, description="redis://[user:password@]host:port/db")
    timeout: float = Field(
        0.25, gt=0, le=10, description="seconds any Redis call may take (connect and answer)"
    )
    on_failure: OnFailure = Field(
        "local",
        description="Redis down: 'local' counts per process (a warning is logged once per "
        "outage), 'refuse' answers requests that need Redis with 503 shared_state_unavailable",
    )
    prefix: str = Field(
        "imagegate", pattern=r"^[A-Za-z0-9_.:-]{1,64}$", description="namespace of every key"
    )
    probe_interval: float = Field(
        1.0, gt=0, le=60, description="seconds between attempts to reach a Redis that is down"
    )
    refresh_interval: float = Field(
        0.25, gt=0, le=0.5, description="seconds between reads of the shared cooldowns"
    )

    @field_validator("url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # "${IMAGEGATE_REDIS_URL:-}" resolves to "" when unset: that means "no Redis".
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @property
    def enabled(self) -> bool:
        return self.url is not None

    @property
    def refuses(self) -> bool:
        """While Redis is down: refuse what needs it (else count per process, degraded)."""
        return self.on_failure == "refuse"
