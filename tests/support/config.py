"""The test gateway config: a base written as real YAML files next to the shipped rules."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from app.config import GatewayConfig
from tests.support.databases import sqlite_database

ROOT = Path(__file__).resolve().parent.parent.parent
UPSTREAM = "http://upstream.test/v1"
UPSTREAM_KEY = "sk-test-UPSTREAM-SECRET-1234567890"

MakeConfig = Callable[..., GatewayConfig]


def base_config(tmp_path: Path) -> dict[str, Any]:
    return {
        "server": {"default_model": "gpt-image-2"},
        "routing": {"retry": {"backoff_base": 0.001, "backoff_max": 0.01, "max_retry_after": 1}, "seed": 7},
        "storage": {"directory": str(tmp_path / "images")},
        "database": {"url": sqlite_database(tmp_path / "imagegate.sqlite3")},
        "carriers": [
            {"name": "up", "kind": "openai", "base_url": UPSTREAM, "api_key": UPSTREAM_KEY,
             "timeout": 5},
            {"name": "local", "kind": "local"},
        ],
        "models": [
            {"name": "gpt-image-2", "aliases": ["gi2"], "rules": "gpt-image-2",
             "price": {"input_text_per_mtok": 5, "input_image_per_mtok": 8,
                       "output_image_per_mtok": 30},
             "carriers": [{"carrier": "up", "model": "upstream-gpt-image-2"}]},
            {"name": "gpt-image-1", "rules": "gpt-image-1", "carriers": [{"carrier": "up"}]},
            {"name": "gpt-image-2.5-flare", "rules": "gpt-image-2.5",
             "carriers": [{"carrier": "up"}]},
            {"name": "dall-e-3", "rules": "dall-e-3", "carriers": [{"carrier": "up"}],
             "price": {"per_image": {"standard": 0.04, "hd": 0.08, "auto": 0.04}}},
            {"name": "dall-e-2", "rules": "dall-e-2", "carriers": [{"carrier": "local"}]},
            {"name": "offline", "rules": "gpt-image-2", "carriers": [{"carrier": "local"}]},
        ],
    }  # fmt: skip


def write_config(tmp_path: Path, data: dict[str, Any], name: str = "gateway.yaml") -> Path:
    config_dir = tmp_path / "config"
    config_dir.mkdir(exist_ok=True)
    shutil.copy(ROOT / "config" / "rules.yaml", config_dir / "rules.yaml")
    path = config_dir / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
