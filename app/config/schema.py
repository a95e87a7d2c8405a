"""The gateway config's schema: one frozen pydantic model per section.

Loaded once, at start-up (``app.config.loader``); nothing reads the YAML again.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from app.config.observability import LoggingConfig, MetricsConfig, TracingConfig
from app.config.rules import EditSupport, RuleSet

ResponseFormat = Literal["url", "b64_json", "b64_ephemeral"]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$"
_HOST_PATTERN = re.compile(r"^(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*$")
_MIB = 1024 * 1024


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CarrierConfig(_Strict):
    """What every carrier has. Each kind extends this with its own options model, in its own
    folder (``app/carriers/<kind>/options.py``), registered in ``app.carriers.KINDS``; the
    loader validates each ``carriers[]`` entry by its ``kind``."""

    name: str = Field(pattern=_NAME)
    kind: str
    timeout: float = Field(300.0, gt=0, description="seconds for a whole upstream attempt")
    retries: int = Field(1, ge=0, le=10, description="retries of a transient failure")
    edit: EditSupport = Field(
        EditSupport(), description="what this carrier serves for edits; default: every edit"
    )

    @property
    def disabled_reason(self) -> str | None:
        """Why this carrier must not be used (a missing secret...), or None."""
        return None

    @property
    def endpoint(self) -> str | None:
        """Where the carrier sends requests, for ``check-config``; None when nowhere."""
        return None

    @property
    def key_status(self) -> str:
        """Its secret's state, masked, for ``check-config``."""
        return "none needed"


def http_url(value: str) -> str:
    """An http(s) base URL without its trailing slash; ValueError otherwise."""
    if not re.match(r"^https?://[^\s/]+", value):
        raise ValueError("must be an http:// or https:// URL")
    return value.rstrip("/")


class Price(_Strict):
    """USD per million tokens by token type, or a flat USD per image (optionally by quality)."""

    input_text_per_mtok: float | None = Field(None, ge=0)
    input_image_per_mtok: float | None = Field(None, ge=0)
    output_image_per_mtok: float | None = Field(None, ge=0)
    per_image: float | dict[str, float] | None = None


class RouteConfig(_Strict):
    carrier: str
    model: str | None = Field(None, description="upstream model name; defaults to the public name")
    price: Price | None = None
    tier: int | None = Field(None, ge=1, description="1 is tried first; default: list position")
    weight: float = Field(1.0, gt=0, description="relative share within a tier")
    overrides: dict[str, Any] = Field({}, description="rule-set keys where this carrier differs")


class ModelConfig(_Strict):
    name: str = Field(pattern=_NAME)
    aliases: tuple[str, ...] = ()
    rules: str
    owned_by: str = "imagegate"
    created: int = Field(1_700_000_000, ge=0)
    price: Price | None = None
    timeout: float = Field(300.0, gt=0, description="overall deadline of one request (seconds)")
    timeout_by_quality: dict[str, float] = {}
    keepalive_json: bool = Field(False, description="whitespace keep-alives on JSON responses")
    carriers: tuple[RouteConfig, ...] = Field(min_length=1)


class ServerConfig(_Strict):
    default_model: str | None = None
    default_response_format: ResponseFormat = "url"
    max_json_bytes: int = Field(1024 * 1024, ge=1024)
    max_upload_bytes: int = Field(900 * _MIB, ge=1024, description="multipart bodies (413)")
    max_json_edit_bytes: int = Field(64 * _MIB, ge=1024, description="JSON edit bodies (413)")
    spool_directory: Path | None = Field(None, description="uploads past the threshold; $TMPDIR")
    spool_threshold_bytes: int = Field(_MIB, ge=0)
    # Pillow itself warns from 89,478,485 pixels on; the local carrier decodes inputs.
    max_input_pixels: int = Field(50_000_000, ge=1, le=89_478_485)
    trusted_proxies: tuple[IPNetwork, ...] = ()
    shutdown_grace: float = Field(60.0, ge=0, description="seconds to finish detached work")


class FetchConfig(_Strict):
    """Fetching the image URLs of JSON edits. Private, loopback, link-local and other
    non-public addresses are refused unless listed in ``allow`` (CIDRs, addresses, or host
    names, ``*.example.internal`` for a whole domain)."""

    allow: tuple[str, ...] = ()
    timeout: float = Field(30.0, gt=0, description="seconds per URL, redirects included")
    connect_timeout: float = Field(10.0, gt=0)
    max_redirects: int = Field(3, ge=0, le=10)
    concurrency: int = Field(4, ge=1, le=32, description="URLs fetched at once per request")

    @field_validator("allow")
    @classmethod
    def _entries(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        entries = tuple(entry.strip().lower() for entry in value if entry.strip())
        for entry in entries:
            if _network(entry) is None and not _HOST_PATTERN.match(entry):
                raise ValueError(f"'{entry}' is neither a CIDR, an IP address nor a host name")
        return entries

    @property
    def allowed_networks(self) -> tuple[IPNetwork, ...]:
        return tuple(net for net in map(_network, self.allow) if net is not None)

    @property
    def allowed_hosts(self) -> tuple[str, ...]:
        return tuple(entry for entry in self.allow if _network(entry) is None)


def _network(entry: str) -> IPNetwork | None:
    try:
        return ipaddress.ip_network(entry.strip("[]"), strict=False)
    except ValueError:
        return None


class StorageConfig(_Strict):
    backend: str = "local"
    directory: Path = Path("data/images")
    public_base_url: str | None = None
    download_max_bytes: int = Field(64 * 1024 * 1024, ge=1024)
    download_timeout: float = Field(60.0, gt=0)

    @field_validator("public_base_url")
    @classmethod
    def _base(cls, value: str | None) -> str | None:
        return http_url(value) if value else None


class AuthConfig(_Strict):
    keys: tuple[SecretStr, ...] = ()

    @field_validator("keys", mode="before")
    @classmethod
    def _drop_empty(cls, value: Any) -> Any:
        # "${IMAGEGATE_API_KEY:-}" resolves to "" when unset: that means "no key", not a key.
        if isinstance(value, list | tuple):
            return tuple(v for v in value if not (isinstance(v, str) and v.strip() == ""))
        return value


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


class DatabaseConfig(_Strict):
    """Keys, budgets, the usage ledger and shared state (``app.db``). An SQLite file under the
    data directory by default; ``postgresql://user:password@host/db`` for several processes or
    replicas. ``IMAGEGATE_DATABASE_URL`` overrides ``url``."""

    url: SecretStr = SecretStr("sqlite:///data/imagegate.sqlite3")
    pool_size: int = Field(10, ge=1, le=200, description="connections kept per process")


class GatewayConfig(_Strict):
    source: Path = Path("<memory>")
    server: ServerConfig = ServerConfig()
    auth: AuthConfig = AuthConfig()
    storage: StorageConfig = StorageConfig()
    routing: RoutingConfig = RoutingConfig()
    streaming: StreamingConfig = StreamingConfig()
    jobs: JobsConfig = JobsConfig()
    database: DatabaseConfig = DatabaseConfig()
    fetch: FetchConfig = FetchConfig()
    metrics: MetricsConfig = MetricsConfig()
    logging: LoggingConfig = LoggingConfig()
    tracing: TracingConfig = TracingConfig()
    rules_file: str = "rules.yaml"
    rule_sets: dict[str, RuleSet] = {}
    carriers: tuple[CarrierConfig, ...] = Field(min_length=1)
    models: tuple[ModelConfig, ...] = Field(min_length=1)
