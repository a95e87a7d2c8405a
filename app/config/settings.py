"""Process settings from the environment: the only module that reads ``os.environ``.

Everything about models and carriers lives in the YAML config; these are the few knobs that
decide which config to load and how the process behaves.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.config.schema import GatewayConfig

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IMAGEGATE_", extra="ignore")

    config: Path = Path("config/gateway.yaml")
    allow_open: bool = False
    log_level: str = "info"
    log_format: Literal["text", "json"] | None = None  # overrides the config's logging.format
    database_url: SecretStr | None = None  # overrides the config's database.url
    redis_url: SecretStr | None = None  # overrides the config's redis.url
    admin_key: SecretStr | None = None  # joins the config's auth.admin_keys

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.lower() not in LOG_LEVELS:
            raise ValueError(f"'{value}' is not one of {', '.join(LOG_LEVELS)}")
        return value.lower()


def database_url(settings: Settings | None, config: GatewayConfig) -> str:
    """The database to use: ``IMAGEGATE_DATABASE_URL`` if set, else the config's."""
    given = settings.database_url if settings is not None else None
    override = given.get_secret_value().strip() if given else ""
    return override or config.database.url.get_secret_value()


def with_redis_url(settings: Settings | None, config: GatewayConfig) -> GatewayConfig:
    """The config with ``IMAGEGATE_REDIS_URL`` (if set) as its ``redis.url``."""
    given = settings.redis_url if settings is not None else None
    override = given.get_secret_value().strip() if given else ""
    if not override:
        return config
    redis = config.redis.model_copy(update={"url": SecretStr(override)})
    return config.model_copy(update={"redis": redis})


def admin_keys(settings: Settings | None, config: GatewayConfig) -> tuple[str, ...]:
    """The keys of ``/admin/v1``: ``auth.admin_keys`` and ``IMAGEGATE_ADMIN_KEY``."""
    keys = [key.get_secret_value().strip() for key in config.auth.admin_keys]
    if settings is not None and settings.admin_key is not None:
        keys.append(settings.admin_key.get_secret_value().strip())
    return tuple(dict.fromkeys(key for key in keys if key))


def environment() -> Mapping[str, str]:
    """A snapshot of the environment, for ``${VAR}`` interpolation in the YAML config."""
    return dict(os.environ)


def export_for_workers(config: Path, log_level: str) -> None:
    """Hand the chosen config and log level to worker processes (uvicorn re-imports the app
    in each, and each configures its own logging from these)."""
    os.environ["IMAGEGATE_CONFIG"] = str(config)
    os.environ["IMAGEGATE_LOG_LEVEL"] = log_level
