"""``imagegate check-config`` and the refusal to serve an open gateway beyond loopback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import main
from app.cli import serve as serve_command
from tests.support.config import ROOT, base_config, write_config
from tests.support.gateway import free_port


def test_check_config_prints_the_routes_with_secrets_masked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, base_config(tmp_path))
    assert main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "gpt-image-2" in out and "up -> upstream-gpt-image-2" in out
    assert "sk-test" not in out and "set (****)" in out


def test_check_config_marks_carriers_without_keys_disabled(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["check-config", str(ROOT / "config" / "gateway.yaml")]) == 0
    out = capsys.readouterr().out
    assert "MISSING -> disabled" in out
    assert "tier 1 weight 1: openai -> gpt-image-2  [disabled]" in out
    assert "tier 3 weight 1: local -> gpt-image-2" in out


def test_check_config_exits_non_zero_naming_the_key_path(tmp_path: Path) -> None:
    data = base_config(tmp_path)
    data["models"][2]["carriers"][0]["carrier"] = "ghost"
    path = write_config(tmp_path, data)
    result = subprocess.run(
        [sys.executable, "-m", "app", "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0  # one clear line
    assert f"{path}: models[2].carriers[0].carrier: unknown carrier 'ghost'" in result.stderr


def test_serve_refuses_a_bad_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = base_config(tmp_path)
    data["carriers"][0]["kind"] = "nope"
    assert main(["serve", "--config", str(write_config(tmp_path, data))]) == 2
    assert "carriers[0].kind" in capsys.readouterr().err


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::"])
def test_serve_refuses_to_be_open_beyond_loopback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], host: str
) -> None:
    path = write_config(tmp_path, base_config(tmp_path))
    assert main(["serve", "--config", str(path), "--host", host]) == 2
    assert "--allow-open" in capsys.readouterr().err


def test_config_path_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, base_config(tmp_path), name="from-env.yaml")
    monkeypatch.setenv("IMAGEGATE_CONFIG", str(path))
    assert main(["check-config"]) == 0
    assert str(path) in capsys.readouterr().out


def test_serve_beyond_loopback_asks_the_key_store_database_keys_included(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only database keys (``imagegate keys create``): serving on 0.0.0.0 is allowed; once the
    only key is revoked, it is refused again."""
    served: list[str] = []
    monkeypatch.setattr(serve_command, "_serve", lambda args, config: served.append(args.host))
    path = write_config(tmp_path, base_config(tmp_path))
    monkeypatch.setenv("IMAGEGATE_CONFIG", str(path))
    assert main(["keys", "create", "--name", "alice", "--json"]) == 0
    key_id = json.loads(capsys.readouterr().out)["id"]
    port = str(free_port())
    assert main(["serve", "--config", str(path), "--host", "0.0.0.0", "--port", port]) == 0
    assert served == ["0.0.0.0"]
    assert main(["keys", "revoke", key_id]) == 0
    capsys.readouterr()
    assert main(["serve", "--config", str(path), "--host", "0.0.0.0", "--port", port]) == 2
    err = capsys.readouterr().err
    assert "refusing to serve on 0.0.0.0" in err and "imagegate keys create" in err
    assert served == ["0.0.0.0"]
