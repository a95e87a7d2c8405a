"""``imagegate db upgrade`` and ``imagegate db current``: from any directory, with the URL from
``IMAGEGATE_DATABASE_URL`` or the config's ``database.url``, never printing a password."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from app.carriers import CARRIER_OPTIONS
from app.cli import main
from app.config import load_config
from app.config.settings import Settings, database_url
from app.db.migrate import head
from tests.support.config import ROOT, base_config, write_config


def imagegate(*args: str, cwd: Path, url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEGATE_")}
    env |= {"IMAGEGATE_DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_upgrade_and_current_from_another_directory_with_the_environment_url(
    empty_database_url: str, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    before = imagegate("db", "current", cwd=elsewhere, url=empty_database_url)
    assert before.returncode == 1 and f"revision none (newest: {head()})" in before.stdout
    upgraded = imagegate("db", "upgrade", cwd=elsewhere, url=empty_database_url)
    assert upgraded.returncode == 0, upgraded.stderr
    after = imagegate("db", "current", cwd=elsewhere, url=empty_database_url)
    assert after.returncode == 0 and f"revision {head()} (newest: {head()})" in after.stdout


def test_the_config_url_is_used_and_the_environment_overrides_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from_config, from_env = tmp_path / "config.sqlite3", tmp_path / "env.sqlite3"
    data = base_config(tmp_path) | {"database": {"url": f"sqlite:///{from_config}"}}
    path = write_config(tmp_path, data)
    monkeypatch.chdir(tmp_path / "config")
    monkeypatch.delenv("IMAGEGATE_DATABASE_URL", raising=False)
    assert main(["db", "upgrade", "--config", str(path)]) == 0
    assert from_config.exists() and not from_env.exists()
    monkeypatch.setenv("IMAGEGATE_DATABASE_URL", f"sqlite:///{from_env}")
    assert main(["db", "current", "--config", str(path)]) == 1  # env wins: not migrated yet
    assert not from_env.exists(), "a read-only command creates no database"
    assert main(["db", "upgrade"]) == 0  # no config needed when the environment names one
    assert f"{from_env}: revision {head()}" in capsys.readouterr().out


def test_a_password_is_never_printed(capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql://imagegate:hunter2-secret@127.0.0.1:9/imagegate"  # nothing listens on 9
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("IMAGEGATE_DATABASE_URL", url)
        assert main(["db", "upgrade"]) == 1
    out, err = capsys.readouterr()
    assert "hunter2" not in out + err
    assert "postgresql://imagegate:***@127.0.0.1:9/imagegate" in err


def test_the_database_setting_defaults_to_a_file_under_data(tmp_path: Path) -> None:
    data = {k: v for k, v in base_config(tmp_path).items() if k != "database"}
    config = load_config(write_config(tmp_path, data), {}, CARRIER_OPTIONS)
    assert database_url(Settings(database_url=None), config) == "sqlite:///data/imagegate.sqlite3"
    assert "imagegate.sqlite3" not in repr(config.database)  # a URL may hold a password
    override = Settings(database_url=SecretStr("postgresql://u@h/db"))
    assert database_url(override, config) == "postgresql://u@h/db"
    assert database_url(Settings(database_url=SecretStr(" ")), config).startswith("sqlite")
