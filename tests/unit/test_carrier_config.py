"""Carrier config is a union discriminated by ``kind``: each kind's options model, from the
carrier registry, validates its entries; errors name the key path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from app.carriers import CARRIER_OPTIONS, KINDS
from app.carriers.local.options import LocalConfig
from app.carriers.openai.options import OpenAIConfig
from app.config.loader import ConfigError, load_config
from app.config.schema import CarrierConfig
from tests.support.config import base_config, write_config


def load_carriers(tmp_path: Path, *carriers: dict[str, Any]) -> tuple[CarrierConfig, ...]:
    data = base_config(tmp_path)
    data["carriers"] = [*data["carriers"], *carriers]
    return load_config(write_config(tmp_path, data), {}, CARRIER_OPTIONS).carriers


def error_for(tmp_path: Path, *carriers: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        load_carriers(tmp_path, *carriers)
    return str(info.value).removeprefix(f"{tmp_path / 'config' / 'gateway.yaml'}: ")


def test_every_kind_has_its_options_model() -> None:
    assert {name: kind.options for name, kind in KINDS.items()} == CARRIER_OPTIONS
    assert CARRIER_OPTIONS["openai"] is OpenAIConfig
    assert CARRIER_OPTIONS["local"] is LocalConfig


def test_each_entry_becomes_its_kinds_model(tmp_path: Path) -> None:
    up, local, extra = load_carriers(
        tmp_path, {"name": "x", "kind": "openai", "base_url": "https://x.test/v1/", "retries": 3}
    )
    assert isinstance(up, OpenAIConfig) and isinstance(local, LocalConfig)
    assert isinstance(extra, OpenAIConfig)
    assert extra.base_url == "https://x.test/v1" and extra.retries == 3


def test_a_local_carrier_needs_no_base_url(tmp_path: Path) -> None:
    (*_, offline) = load_carriers(tmp_path, {"name": "offline", "kind": "local", "timeout": 9})
    assert isinstance(offline, LocalConfig)
    assert offline.timeout == 9 and offline.disabled_reason is None


def test_an_openai_carrier_without_base_url_names_the_key_path(tmp_path: Path) -> None:
    message = error_for(tmp_path, {"name": "x", "kind": "openai"})
    assert message == "carriers[2].base_url: Field required"


def test_an_unknown_kind_lists_the_known_ones(tmp_path: Path) -> None:
    message = error_for(tmp_path, {"name": "x", "kind": "magic"})
    assert message == "carriers[2].kind: unknown kind 'magic' (known: local, openai)"
    missing = error_for(tmp_path, {"name": "x"})
    assert missing == "carriers[2].kind: a kind is required (known: local, openai)"


def test_options_of_another_kind_are_refused(tmp_path: Path) -> None:
    message = error_for(tmp_path, {"name": "x", "kind": "local", "base_url": "https://x.test"})
    assert message == "carriers[2].base_url: Extra inputs are not permitted"


def test_an_empty_key_disables_an_openai_carrier() -> None:
    def config(key: str | None) -> OpenAIConfig:
        secret = None if key is None else SecretStr(key)
        return OpenAIConfig(name="x", kind="openai", base_url="http://x.test", api_key=secret)

    assert config(" ").disabled_reason == "its api_key is empty"
    assert config("sk-1").disabled_reason is None
    assert config(None).disabled_reason is None  # an upstream that needs no key
