"""A real ``imagegate serve`` process on a free loopback port, for end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import base_config, write_config


@dataclass
class RunningGateway:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_gateway(
    config_path: Path, log_path: Path, *extra: str, env: dict[str, str] | None = None
) -> RunningGateway:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "app",
        "serve",
        "--config",
        str(config_path),
        "--port",
        str(port),
        *extra,
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"imagegate exited with {process.returncode}:\n{log_path.read_text()}"
            )
        try:
            if httpx.get(f"{url}/healthz", timeout=0.5).status_code == 200:
                return RunningGateway(url, process, log_path)
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"imagegate did not become ready:\n{log_path.read_text()}")


def stop_gateway(gateway: RunningGateway) -> None:
    gateway.process.terminate()
    try:
        gateway.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        gateway.process.kill()
        gateway.process.wait()


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
