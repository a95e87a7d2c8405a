"""Fixtures for end-to-end tests: real ``imagegate serve`` processes, stopped afterwards."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.config import base_config, write_config
from tests.support.gateway import RunningGateway, start_gateway, stop_gateway


@pytest.fixture
def gateway_factory(tmp_path: Path) -> Iterator[Callable[..., RunningGateway]]:
    """Start gateways from a (possibly edited) test config; all are stopped afterwards."""
    started: list[RunningGateway] = []

    def start(
        edit: Callable[[dict[str, Any]], None] | None = None,
        *extra: str,
        env: dict[str, str] | None = None,
    ) -> RunningGateway:
        data = base_config(tmp_path)
        if edit is not None:
            edit(data)
        path = write_config(tmp_path, data, name=f"gateway-{len(started)}.yaml")
        gateway = start_gateway(path, tmp_path / f"gateway-{len(started)}.log", *extra, env=env)
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        stop_gateway(gateway)


@pytest.fixture
def offline_gateway(gateway_factory: Callable[..., RunningGateway]) -> RunningGateway:
    """A gateway whose default model is served by the offline ``local`` carrier."""

    def offline(data: dict[str, Any]) -> None:
        for model in data["models"]:
            model["carriers"] = [{"carrier": "local"}]

    return gateway_factory(offline)
