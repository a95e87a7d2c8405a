"""Config sections for how requests run and where state lives: retries and backoff, cooldown,
idempotency, streaming keep-alives, async jobs, the database and the usage ledger."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


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
    """Async jobs (``Prefer: respond-async``): how long they are kept and how many run. They
    are recorded in the database (``database.url``)."""

    database: str | None = Field(None, description="removed: jobs live in database.url")
    ttl: float = Field(86_400.0, gt=0, description="seconds a finished job can be fetched")
    max_running: int = Field(4, ge=1)
    max_queued: int = Field(100, ge=0)
    lease: float = Field(
        30.0,
        ge=1,
        le=3600,
        description="seconds a job stays owned by its process without a heartbeat (sent every "
        "lease/3); a job whose owner died is finished as failed within about this time",
    )


class DatabaseConfig(_Strict):
    """Keys, budgets, the usage ledger and shared state (``app.db``). An SQLite file under the
    data directory by default; ``postgresql://user:password@host/db`` for several processes or
    replicas. ``IMAGEGATE_DATABASE_URL`` overrides ``url``."""

    url: SecretStr = SecretStr("sqlite:///data/imagegate.sqlite3")
    pool_size: int = Field(10, ge=1, le=200, description="connections kept per process")


class LedgerConfig(_Strict):
    """The usage ledger: one row per request and per stored image, written in batches."""

    store_prompts: bool = Field(True, description="keep each stored image's prompt")
    flush_interval: float = Field(0.25, gt=0, le=10, description="seconds rows may wait")
    max_queue: int = Field(100_000, ge=100, description="rows held while the database is down")
