"""The ``redis`` section and ``IMAGEGATE_REDIS_URL``; the line ``serve`` prints at start about
what is shared and what each process keeps to itself."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.cli.preflight import what_is_shared
from app.config.redis import RedisConfig
from app.config.settings import Settings, with_redis_url
from tests.support.config import MakeConfig

POSTGRES = "postgresql://u@db/imagegate"


def test_defaults_are_short_and_local() -> None:
    config = RedisConfig()
    assert not config.enabled and config.timeout == 0.25 and config.on_failure == "local"
    assert config.prefix == "imagegate" and config.refresh_interval <= 0.5
    assert not RedisConfig(url="").enabled  # "${IMAGEGATE_REDIS_URL:-}" unset


@pytest.mark.parametrize(
    "bad",
    [{"on_failure": "ignore"}, {"timeout": 0}, {"timeout": 30}, {"prefix": "a b"},
     {"refresh_interval": 2}, {"hosts": "x"}],
)  # fmt: skip
def test_bad_settings_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        RedisConfig.model_validate(bad)


def test_the_environment_overrides_the_config(
    make_config: MakeConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config(redis={"url": "redis://from-config:6379/0", "prefix": "team"})
    monkeypatch.setenv("IMAGEGATE_REDIS_URL", "redis://:pw@from-env:6379/2")
    chosen = with_redis_url(Settings(), config).redis
    assert chosen.url is not None and chosen.url.get_secret_value().endswith("from-env:6379/2")
    assert chosen.prefix == "team"
    monkeypatch.setenv("IMAGEGATE_REDIS_URL", " ")
    assert with_redis_url(Settings(), config).redis.url == config.redis.url
    assert with_redis_url(None, config) is config


def test_without_redis_serve_says_limits_are_per_process(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    config = make_config()
    several = what_is_shared(config, POSTGRES, workers=4)
    assert "counted by each of the 4 worker processes" in several
    assert "rate limits, concurrency limits and carrier cooldowns" in several
    assert "idempotency answers are shared in the database" in several
    assert "set redis.url (IMAGEGATE_REDIS_URL) to share them" in several
    one = what_is_shared(config, f"sqlite:///{tmp_path}/x.sqlite3", workers=1)
    assert "counted by this process" in one and "shared in SQLite" in one


def test_with_redis_serve_says_what_redis_shares(make_config: MakeConfig) -> None:
    config = make_config(redis={"url": "redis://:secret@r:6379/0", "on_failure": "refuse"})
    line = what_is_shared(config, POSTGRES, workers=2)
    assert "cooldowns and idempotency claims are shared in Redis" in line
    assert "refused (503) while Redis is down" in line
    assert "secret" not in line
