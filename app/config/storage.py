"""The ``storage`` section: where images live (``backend``), how clients reach them
(``url_mode``, ``url_ttl``, the signing keys), how long they are kept (``retention``) and the
object-store settings of the ``s3`` backend. Durations accept seconds or ``90s``/``12h``/``30d``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from app.config.durations import Duration

UrlMode = Literal["public", "signed", "proxy"]
_MIB = 1024 * 1024


def _http_url(value: str | None) -> str | None:
    if not value:
        return None  # "${S3_ENDPOINT_URL:-}" unset: the default
    if not re.match(r"^https?://[^\s/]+", value):
        raise ValueError("must be an http:// or https:// URL")
    return value.rstrip("/")


class StorageConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: str = "local"
    directory: Path = Path("data/images")
    public_base_url: str | None = None
    download_max_bytes: int = Field(64 * _MIB, ge=1024)
    download_timeout: float = Field(60.0, gt=0)
    # How answers reach images: stable URLs, expiring signed URLs, or streamed by the gateway.
    url_mode: UrlMode = "public"
    url_ttl: Duration = Field(86400.0, gt=0, description="seconds a signed URL lives")
    signing_keys: tuple[SecretStr, ...] = Field(
        (), description="the first signs, all verify; empty: a key kept in the data directory"
    )
    retention: Duration = Field(0.0, description="how long images are kept; 0: forever")
    sweep_interval: Duration = Field(60.0, gt=0, description="seconds between retention sweeps")
    # The s3 backend (credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY).
    bucket: str | None = None
    endpoint_url: str | None = Field(None, description="empty: AWS")
    region: str = "us-east-1"
    prefix: str = ""
    path_style: bool | None = Field(None, description="default: on with an endpoint_url")
    bucket_public_url: str | None = Field(None, description="url_mode public: bucket/CDN base")
    timeout: Duration = Field(10.0, gt=0, description="seconds one object-store call may take")
    put_deadline: Duration = Field(20.0, gt=0, description="seconds a store may take, retries in")
    multipart_threshold: int = Field(16 * _MIB, ge=5 * _MIB)

    @field_validator("public_base_url", "endpoint_url", "bucket_public_url")
    @classmethod
    def _base(cls, value: str | None) -> str | None:
        return _http_url(value)

    @field_validator("signing_keys", mode="before")
    @classmethod
    def _drop_empty(cls, value: object) -> object:
        if isinstance(value, list | tuple):  # "${IMAGEGATE_SIGNING_KEY:-}" unset: no key
            return tuple(v for v in value if not (isinstance(v, str) and v.strip() == ""))
        return value

    @field_validator("signing_keys")
    @classmethod
    def _long_enough(cls, value: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        if any(len(key.get_secret_value()) < 16 for key in value):
            raise ValueError("a signing key must be at least 16 characters")
        return value

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        value = value.lstrip("/")
        return value if not value or value.endswith("/") else value + "/"
