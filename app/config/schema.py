"""The gateway config's schema: one frozen pydantic model per section (the run-time sections
live in ``app.config.runtime``).

Loaded once, at start-up (``app.config.loader``); nothing reads the YAML again.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, field_validator

from app.config.allow import AllowRule, parse_allow_entry
from app.config.observability import LoggingConfig, MetricsConfig, TracingConfig
from app.config.redis import RedisConfig
from app.config.rules import EditSupport, RuleSet
from app.config.runtime import (
    DatabaseConfig,
    JobsConfig,
    LedgerConfig,
    RoutingConfig,
    StreamingConfig,
)
from app.config.storage import StorageConfig as StorageConfig  # re-exported

ResponseFormat = Literal["url", "b64_json", "b64_ephemeral"]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$"
_ORIGIN = re.compile(r"^https?://[^\s/?#]+$")
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
    # Set by the loader: the environment variable each field was read from (``${VAR}``).
    _variables: dict[str, str] = PrivateAttr(default_factory=dict)

    def variable_of(self, field: str) -> str | None:
        """The environment variable ``field`` came from in the YAML, if it came from one."""
        return self._variables.get(field)

    @property
    def secrets(self) -> tuple[str, ...]:
        """The secrets this carrier holds (its keys), for masking; none by default."""
        return ()

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
    """What a route costs, in exact USD (decimals, never floats), from ``effective_from`` on
    (a model may list several prices; each request pays the one in effect when it is made).

    - tokens: USD per million tokens of text in, image in and image out; ``output_tokens``
      adds or corrects the image tokens of a 1024x1024 image by quality, for estimates;
    - per image: one USD amount, or a table whose keys are ``SIZE/QUALITY``, ``QUALITY``,
      ``SIZE`` or ``default`` (the most specific match wins);
    - per megapixel: ``per_megapixel`` for each output megapixel and ``input_per_megapixel``
      for each megapixel of the input images.
    """

    effective_from: date | None = None
    input_text_per_mtok: Decimal | None = Field(None, ge=0)
    input_image_per_mtok: Decimal | None = Field(None, ge=0)
    output_image_per_mtok: Decimal | None = Field(None, ge=0)
    output_tokens: dict[str, int] = {}
    per_image: Decimal | dict[str, Decimal] | None = None
    per_megapixel: Decimal | None = Field(None, ge=0)
    input_per_megapixel: Decimal | None = Field(None, ge=0)

    @field_validator("per_image")
    @classmethod
    def _not_negative(
        cls, value: Decimal | dict[str, Decimal] | None
    ) -> Decimal | dict[str, Decimal] | None:
        amounts = value.values() if isinstance(value, dict) else [value]
        if any(amount is not None and amount < 0 for amount in amounts):
            raise ValueError("prices cannot be negative")
        return value


Prices = Price | tuple[Price, ...] | None


class RouteConfig(_Strict):
    carrier: str
    model: str | None = Field(None, description="upstream model name; defaults to the public name")
    price: Prices = None
    tier: int | None = Field(None, ge=1, description="1 is tried first; default: list position")
    weight: float = Field(1.0, gt=0, description="relative share within a tier")
    overrides: dict[str, Any] = Field({}, description="rule-set keys where this carrier differs")
    offline_fallback: bool = Field(
        False, description="an offline carrier may stand in after the real carriers failed"
    )


class ModelConfig(_Strict):
    name: str = Field(pattern=_NAME)
    aliases: tuple[str, ...] = ()
    rules: str
    owned_by: str = "imagegate"
    created: int = Field(1_700_000_000, ge=0)
    price: Prices = None
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
    max_json_edits_in_flight_bytes: int = Field(
        1024 * _MIB, ge=1024, description="JSON edit bodies being handled at once (503 above)"
    )
    spool_directory: Path | None = Field(None, description="uploads past the threshold; $TMPDIR")
    spool_threshold_bytes: int = Field(_MIB, ge=0)
    # Pillow itself warns from 89,478,485 pixels on; the local carrier decodes inputs.
    max_input_pixels: int = Field(50_000_000, ge=1, le=89_478_485)
    max_decoding_pixels: int = Field(
        50_000_000, ge=1, description="pixels decoded at once, all requests together"
    )
    trusted_proxies: tuple[IPNetwork, ...] = ()
    request_grace: float = Field(
        25.0, ge=0, description="seconds after SIGTERM before waiting requests get 503"
    )
    shutdown_grace: float = Field(60.0, ge=0, description="seconds to finish detached work")
    # Connections (app.api.connections); each worker process holds its own.
    header_timeout: float = Field(10.0, gt=0, description="seconds to send a request's headers")
    keepalive_timeout: float = Field(15.0, gt=0, description="seconds an idle connection stays")
    send_timeout: float = Field(30.0, gt=0, description="seconds a client may read nothing")
    max_connections: int = Field(1024, ge=1, description="per worker; more are answered 503")
    cors_origins: tuple[str, ...] = Field((), description="browser origins; empty: CORS off")

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if origin != "*" and not _ORIGIN.match(origin):
                raise ValueError(f"'{origin}' is not '*' or an origin like https://app.example")
        return value


class FetchConfig(_Strict):
    """Fetching the image URLs of JSON edits. Private, loopback, link-local and other
    non-public addresses are refused unless listed in ``allow`` (CIDRs, addresses, or host
    names, ``*.example.internal`` for a whole domain; each optionally ``:port``, see
    ``app.config.allow``)."""

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
            parse_allow_entry(entry)
        return entries

    @property
    def allow_rules(self) -> tuple[AllowRule, ...]:
        return tuple(map(parse_allow_entry, self.allow))


class AuthConfig(_Strict):
    keys: tuple[SecretStr, ...] = ()
    admin_keys: tuple[SecretStr, ...] = Field((), description="for /admin/v1 only")
    key_cache_ttl: float = Field(
        5.0, gt=0, le=300, description="seconds a database key lookup is trusted (revocation)"
    )
    budget_sync_interval: float = Field(
        1.0, gt=0, le=60, description="seconds between budget lease renewals and write-offs"
    )

    @field_validator("keys", "admin_keys", mode="before")
    @classmethod
    def _drop_empty(cls, value: Any) -> Any:
        # "${IMAGEGATE_API_KEY:-}" resolves to "" when unset: that means "no key", not a key.
        if isinstance(value, list | tuple):
            return tuple(v for v in value if not (isinstance(v, str) and v.strip() == ""))
        return value


class GatewayConfig(_Strict):
    source: Path = Path("<memory>")
    server: ServerConfig = ServerConfig()
    auth: AuthConfig = AuthConfig()
    storage: StorageConfig = StorageConfig()
    routing: RoutingConfig = RoutingConfig()
    streaming: StreamingConfig = StreamingConfig()
    jobs: JobsConfig = JobsConfig()
    database: DatabaseConfig = DatabaseConfig()
    redis: RedisConfig = RedisConfig()  # shared counters and cooldowns (app.config.redis)
    ledger: LedgerConfig = LedgerConfig()
    fetch: FetchConfig = FetchConfig()
    metrics: MetricsConfig = MetricsConfig()
    logging: LoggingConfig = LoggingConfig()
    tracing: TracingConfig = TracingConfig()
    rules_file: str = "rules.yaml"
    rule_sets: dict[str, RuleSet] = {}
    carriers: tuple[CarrierConfig, ...] = Field(min_length=1)
    models: tuple[ModelConfig, ...] = Field(min_length=1)
