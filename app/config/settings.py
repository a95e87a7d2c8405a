"""Process settings from the environment: the only module that reads ``os.environ``.

Everything about models and carriers lives in the YAML config; these are the few knobs that
decide which config to load and how the process behaves.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.config.schema import GatewayConfig


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IMAGEGATE_", extra="ignore")

    config: Path = Path("config/gateway.yaml")
    allow_open: bool = False
    log_level: str = "info"
    database_url: SecretStr | None = None  # overrides the config's database.url


def database_url(settings: Settings, config: GatewayConfig) -> str:
    """The database to use: ``IMAGEGATE_DATABASE_URL`` if set, else the config's."""
    override = settings.database_url.get_secret_value().strip() if settings.database_url else ""
    return override or config.database.url.get_secret_value()


def environment() -> Mapping[str, str]:
    """A snapshot of the environment, for ``${VAR}`` interpolation in the YAML config."""
    return dict(os.environ)


def export_config_path(path: Path) -> None:
    """Hand the chosen config to worker processes (uvicorn re-imports the app in each)."""
    os.environ["IMAGEGATE_CONFIG"] = str(path)
