"""The config sections for operating the gateway: ``metrics``, ``logging`` and ``tracing``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MetricsConfig(_Strict):
    enabled: bool = Field(True, description="serve GET /metrics (Prometheus text format)")
    token: SecretStr | None = Field(
        None, description="bearer token /metrics asks for; default: the same access as /healthz"
    )
    label_keys: bool = Field(
        False, description="add key and team labels to request and cost counters (opt-in)"
    )
    port: int | None = Field(
        None, ge=1, le=65535, description="serve /metrics on this port instead of the main one"
    )
    host: str = Field("127.0.0.1", description="the address of metrics.port")

    @field_validator("token", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        # "${IMAGEGATE_METRICS_TOKEN:-}" resolves to "" when unset: that means "no token".
        return None if isinstance(value, str) and not value.strip() else value


class LoggingConfig(_Strict):
    format: Literal["text", "json"] = Field(
        "text", description="text for a terminal, json: one object per line ($IMAGEGATE_LOG_FORMAT)"
    )


class TracingConfig(_Strict):
    enabled: bool = Field(
        False, description="OpenTelemetry spans (also on when $OTEL_EXPORTER_OTLP_ENDPOINT is set)"
    )
