"""A real ``imagegate serve`` process on a free loopback port, and the openai SDK pointed at it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai


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
    deadline = time.monotonic() + 60  # a loaded CI machine starts two workers slowly
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"imagegate exited with {process.returncode}:\n{log_path.read_text()}"
            )
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
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


def sdk(gateway: RunningGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="anything-when-open", max_retries=0)


def wait_for_workers(gateway: RunningGateway, count: int) -> None:
    """Wait until ``count`` worker processes have started: ``/healthz`` answers as soon as the
    first does, and on a loaded machine the others can start after a test's traffic is over."""
    wait_until(
        lambda: gateway.log().count("Application startup complete") >= count,
        timeout=60,
        what=f"{count} workers started",
    )


def wait_until(condition: Callable[[], bool], timeout: float = 10, what: str = "") -> None:
    """Wait for an effect in another process (a file, a log line), polling up to ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what or condition}")
        time.sleep(0.02)
