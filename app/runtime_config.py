"""Config schema for how requests run: retries and backoff, cooldown, idempotency, streaming
keep-alives and async jobs."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RetryConfig(_Strict):
    """Backoff between retries of one carrier: ``min(base * 2**k, max)`` with jitter."""

    backoff_base: float = Field(0.5, ge=0)
    backoff_max: float = Field(8.0, ge=0)
    max_retry_after: float = Field(
        30.0, ge=0, description="an upstream retry-after longer than this moves on instead"
    )


class CooldownConfig(_Strict):
    """Circuit breaker: ``failures`` within ``window`` seconds cool a carrier for ``duration``."""

    failures: int = Field(3, ge=1)
    window: float = Field(60.0, gt=0)
    duration: float = Field(30.0, gt=0)


class IdempotencyConfig(_Strict):
    ttl: float = Field(86_400.0, gt=0, description="seconds a key's response is replayed")
    max_entries: int = Field(10_000, ge=1)


class RoutingConfig(_Strict):
    retry: RetryConfig = RetryConfig()
    cooldown: CooldownConfig = CooldownConfig()
    idempotency: IdempotencyConfig = IdempotencyConfig()
    seed: int | None = Field(None, description="fixed seed for weighted choice (tests)")


class StreamingConfig(_Strict):
    keepalive_interval: float = Field(5.0, gt=0, description="seconds between keep-alives")
    first_event_wait: float = Field(
        2.0, ge=0, description="hold headers this long so early failures are real HTTP errors"
    )


class JobsConfig(_Strict):
    """Async jobs (``Prefer: respond-async``): where they are recorded and how many run."""

    database: str = "data/jobs.sqlite3"
    ttl: float = Field(86_400.0, gt=0, description="seconds a finished job can be fetched")
    max_running: int = Field(4, ge=1)
    max_queued: int = Field(100, ge=0)
