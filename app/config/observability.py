"""The config sections for operating the gateway: ``metrics``, ``logging`` and ``tracing``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


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


class LoggingConfig(_Strict):
    format: Literal["text", "json"] = Field(
        "text", description="text for a terminal, json: one object per line ($IMAGEGATE_LOG_FORMAT)"
    )


class TracingConfig(_Strict):
    enabled: bool = Field(
        False, description="OpenTelemetry spans (also on when $OTEL_EXPORTER_OTLP_ENDPOINT is set)"
    )
