"""``imagegate check-carriers`` probes each enabled carrier's key against a real (fake) upstream,
prints one line per carrier and fails when an enabled real carrier fails its check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.cli import main
from tests.support.config import base_config, write_config
from tests.support.upstream import FakeUpstream, json_reply


def carriers_config(tmp_path: Path, fake: FakeUpstream, *names: str) -> Path:
    data = base_config(tmp_path)
    data["carriers"] = [
        {
            "name": name,
            "kind": "openai",
            "base_url": fake.url(f"/{name}/v1"),
            "api_key": f"sk-{name}",
        }
        for name in names
    ]
    data["carriers"] += [
        {"name": "unset", "kind": "openai", "base_url": fake.url("/unset/v1"), "api_key": ""},
        {"name": "local", "kind": "local"},
    ]
    for model in data["models"]:
        model["carriers"] = [{"carrier": "local"}]
    return write_config(tmp_path, data)


def lines(capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    out = capsys.readouterr().out.splitlines()
    return {line.split()[0]: line for line in out}


def test_every_enabled_carrier_gets_one_line_and_a_good_key_passes(
    tmp_path: Path, fake: FakeUpstream, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.route("/good/v1/models", json_reply({"object": "list", "data": []}), method="GET")
    code = main(["check-carriers", "--config", str(carriers_config(tmp_path, fake, "good"))])
    shown = lines(capsys)
    assert code == 0
    assert set(shown) == {"good", "unset", "local"}
    assert " ok " in shown["good"] and "key accepted" in shown["good"]
    assert "disabled" in shown["unset"]
    assert " ok " in shown["local"]
    [probe] = fake.requests
    assert (probe.method, probe.path) == ("GET", "/good/v1/models")
    assert probe.headers["authorization"] == "Bearer sk-good"


@pytest.mark.parametrize(
    ("answer", "label", "detail"),
    [
        (json_reply({"error": {"message": "Incorrect API key"}}, 401), "KEY REJECTED", "check "),
        (json_reply({"error": {"message": "forbidden"}}, 403), "KEY REJECTED", "api_key"),
        (json_reply({"error": {"message": "down"}}, 503), "FAILED", "HTTP 503"),
    ],
)
def test_a_failing_real_carrier_fails_the_command(
    tmp_path: Path,
    fake: FakeUpstream,
    capsys: pytest.CaptureFixture[str],
    answer: Any,
    label: str,
    detail: str,
) -> None:
    fake.route("/good/v1/models", json_reply({"data": []}))
    fake.route("/bad/v1/models", answer)
    code = main(["check-carriers", "--config", str(carriers_config(tmp_path, fake, "good", "bad"))])
    shown = lines(capsys)
    assert code == 1
    assert label in shown["bad"] and detail in shown["bad"]
    assert "sk-bad" not in shown["bad"]
    assert " ok " in shown["good"]


def test_a_silent_carrier_fails_within_the_timeout(
    tmp_path: Path, fake: FakeUpstream, capsys: pytest.CaptureFixture[str]
) -> None:
    slow = json_reply({"data": []})
    slow.delay = 5
    fake.route("/slow/v1/models", slow)
    path = carriers_config(tmp_path, fake, "slow")
    code = main(["check-carriers", "--config", str(path), "--timeout", "0.3"])
    shown = lines(capsys)
    assert code == 1
    assert "FAILED" in shown["slow"] and "no answer within 0.3 s" in shown["slow"]
