"""Config loading: interpolation, schema errors that name the key path, cross references."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.carriers import CARRIER_OPTIONS
from app.config.loader import ConfigError, interpolate, key_path, load_config
from tests.support.config import ROOT, base_config, write_config


def load(tmp_path: Path, data: dict[str, Any], env: dict[str, str] | None = None):
    return load_config(write_config(tmp_path, data), env or {}, CARRIER_OPTIONS)


def error_for(tmp_path: Path, edit) -> str:
    data = base_config(tmp_path)
    edit(data)
    with pytest.raises(ConfigError) as info:
        load(tmp_path, data)
    return str(info.value)


def test_the_shipped_config_loads_with_no_environment() -> None:
    config = load_config(ROOT / "config" / "gateway.yaml", {}, CARRIER_OPTIONS)
    assert config.auth.keys == ()
    assert {c.name: c.disabled_reason for c in config.carriers} == {
        "openai": "its api_key is empty",
        "reseller": "its api_key is empty",
        "local": None,
    }
    routes = {m.name: [r.carrier for r in m.carriers] for m in config.models}
    assert routes["gpt-image-2"] == ["openai", "reseller", "local"]
    assert all(carriers[-1] == "local" for carriers in routes.values())


def test_the_shipped_config_reads_keys_from_the_environment() -> None:
    env = {
        "OPENAI_API_KEY": "sk-live",
        "IMAGEGATE_API_KEY": "gk-1",
        "IMAGEGATE_DATA_DIR": "/srv/img",
    }
    config = load_config(ROOT / "config" / "gateway.yaml", env, CARRIER_OPTIONS)
    assert [c.disabled_reason for c in config.carriers if c.name == "openai"] == [None]
    assert [k.get_secret_value() for k in config.auth.keys] == ["gk-1"]
    assert config.storage.directory == Path("/srv/img")


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("${A}", {"A": "1"}, "1"),
        ("${A}", {}, ""),
        ("${A:-fallback}", {}, "fallback"),
        ("${A:-fallback}", {"A": ""}, "fallback"),
        ("${A:-fallback}", {"A": "set"}, "set"),
        ("x-${A}-${B:-b}", {"A": "a"}, "x-a-b"),
        ("$${A}", {"A": "1"}, "${A}"),
        ("plain $HOME", {"HOME": "/root"}, "plain $HOME"),
    ],
)
def test_interpolation(text: str, env: dict[str, str], expected: str) -> None:
    assert interpolate({"k": [text]}, env) == {"k": [expected]}


def test_interpolated_values_cannot_inject_structure(tmp_path: Path) -> None:
    data = base_config(tmp_path)
    data["carriers"][0]["api_key"] = "${KEY}"
    config = load(tmp_path, data, {"KEY": "a\nmodels: []"})
    assert config.carriers[0].api_key is not None
    assert config.carriers[0].api_key.get_secret_value() == "a\nmodels: []"
    assert len(config.models) == len(data["models"])


def test_key_path() -> None:
    assert key_path(("models", 2, "carriers", 0, "carrier")) == "models[2].carriers[0].carrier"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda d: d["models"][2]["carriers"][0].update(carrier="nope"),
            "models[2].carriers[0].carrier: unknown carrier 'nope'",
        ),
        (
            lambda d: d["models"][1].update(rules="gpt-image-9"),
            "models[1].rules: unknown rule set 'gpt-image-9'",
        ),
        (lambda d: d["carriers"][0].update(kind="magic"), "carriers[0].kind: unknown kind 'magic'"),
        (lambda d: d["carriers"][0].pop("base_url"), "carriers[0].base_url"),
        (lambda d: d["carriers"][0].update(base_url="ftp://x"), "carriers[0].base_url"),
        (lambda d: d["carriers"][0].update(timeout=-1), "carriers[0].timeout"),
        (
            lambda d: d["carriers"][0].update(tiemout=3),
            "carriers[0].tiemout: Extra inputs are not permitted",
        ),
        (
            lambda d: d["carriers"].append({"name": "up", "kind": "local"}),
            "carriers[2].name: duplicate carrier name 'up'",
        ),
        (
            lambda d: d["models"][1].update(aliases=["gi2"]),
            "models[1].aliases[0]: 'gi2' is already used by model 'gpt-image-2'",
        ),
        (lambda d: d["models"][0].update(carriers=[]), "models[0].carriers"),
        (
            lambda d: d["server"].update(default_model="nope"),
            "server.default_model: unknown model 'nope'",
        ),
        (
            lambda d: d["server"].update(default_response_format="png"),
            "server.default_response_format",
        ),
    ],
)
def test_errors_name_the_file_and_key_path(tmp_path: Path, edit, expected: str) -> None:
    message = error_for(tmp_path, edit)
    assert message.startswith(str(tmp_path / "config" / "gateway.yaml") + ": ")
    assert expected in message


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    path = write_config(tmp_path, base_config(tmp_path))
    path.write_text("carriers: [\n  - name: x\n")
    with pytest.raises(ConfigError, match=r"not valid YAML at line \d+"):
        load_config(path, {}, CARRIER_OPTIONS)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(tmp_path / "nope.yaml", {}, CARRIER_OPTIONS)


def test_rule_set_errors_name_the_rules_file(tmp_path: Path) -> None:
    path = write_config(tmp_path, base_config(tmp_path))
    rules = path.parent / "rules.yaml"
    rules.write_text(rules.read_text() + "\nbroken:\n  extends: gpt-image\n  n: [1, 'many']\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, {}, CARRIER_OPTIONS)
    assert str(info.value).startswith(f"{rules}: broken.n")


def test_rule_set_cycles_are_refused(tmp_path: Path) -> None:
    path = write_config(tmp_path, base_config(tmp_path))
    (path.parent / "rules.yaml").write_text("a: {extends: b}\nb: {extends: a}\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(path, {}, CARRIER_OPTIONS)


def test_empty_gateway_keys_mean_open(tmp_path: Path) -> None:
    data = base_config(tmp_path)
    data["auth"] = {"keys": ["${UNSET_KEY:-}", "  "]}
    assert load(tmp_path, data).auth.keys == ()
