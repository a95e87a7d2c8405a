"""Bounded wrappers around podman and podman-compose, and the clean-up list of a run.

Every command has a timeout, and everything a run creates is registered in ``Cleanup`` the
moment before it is created, so it is removed even when a check fails half-way.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx


class CommandFailed(Exception):
    """A podman command exited non-zero or ran out of time."""


def run(
    args: Sequence[str],
    *,
    timeout: float,
    check: bool = True,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(
            list(args),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise CommandFailed(f"`{shlex.join(args)}` timed out after {timeout:.0f} s") from None
    if check and result.returncode != 0:
        output = (result.stdout + result.stderr).strip().splitlines()
        raise CommandFailed(
            f"`{shlex.join(args)}` exited {result.returncode}:\n  " + "\n  ".join(output[-15:])
        )
    return result


# Loopback traffic never goes through a proxy from the environment (trust_env=False).


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_serving(url: str, timeout: float) -> float:
    """Poll ``url`` until it answers 200; the seconds that took."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if httpx.get(url, timeout=0.5, trust_env=False).status_code == 200:
                return time.monotonic() - start
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer 200 within {timeout:.0f} s")


def inspect(kind: str, ref: str) -> dict[str, Any]:
    out = run(["podman", kind, "inspect", ref], timeout=30).stdout
    data: list[dict[str, Any]] = json.loads(out)
    return data[0]


def wait_exit(container: str, timeout: float) -> int:
    """Wait for a container to stop; its exit code."""
    return int(run(["podman", "wait", container], timeout=timeout).stdout.strip())


def logs(container: str) -> str:
    result = run(["podman", "logs", container], timeout=30, check=False)
    return result.stdout + result.stderr


@contextmanager
def mounted(image: str) -> Iterator[Path]:
    """The image's file system, read from the host (rootful podman)."""
    path = run(["podman", "image", "mount", image], timeout=60).stdout.strip()
    try:
        yield Path(path)
    finally:
        run(["podman", "image", "unmount", image], timeout=60, check=False)


@dataclass
class Compose:
    """``podman-compose`` for one project, reading only the run's own env file."""

    project: str
    file: Path
    env_file: Path
    env: dict[str, str]
    profiles: tuple[str, ...] = ()

    def command(self, *args: str) -> list[str]:
        chosen = [arg for profile in self.profiles for arg in ("--profile", profile)]
        return [
            "podman-compose",
            "-p",
            self.project,
            "-f",
            str(self.file),
            "--env-file",
            str(self.env_file),
            *chosen,
            *args,
        ]

    def __call__(self, *args: str, timeout: float) -> str:
        return run(self.command(*args), timeout=timeout, env=self.env).stdout

    def container(self, service: str | None = None) -> str:
        """The one running container of the project (of ``service``, if given)."""
        only = (
            [] if service is None else ["--filter", f"label=com.docker.compose.service={service}"]
        )
        out = run(
            [
                "podman",
                "ps",
                "--filter",
                f"label=io.podman.compose.project={self.project}",
                *only,
                "--format",
                "{{.Names}}",
            ],
            timeout=30,
        ).stdout.split()
        if len(out) != 1:
            raise CommandFailed(f"expected one running container in {self.project}, got {out}")
        return out[0]


@dataclass
class Cleanup:
    """Commands that undo what the run made, run last-in first-out, never raising."""

    steps: list[tuple[str, list[str], dict[str, str] | None]] = field(default_factory=list)

    def add(self, what: str, command: list[str], env: dict[str, str] | None = None) -> None:
        self.steps.append((what, command, env))

    def run_all(self) -> list[str]:
        problems = []
        while self.steps:
            what, command, env = self.steps.pop()
            try:
                result = run(command, timeout=120, check=False, env=env)
            except CommandFailed as exc:
                problems.append(f"{what}: {exc}")
                continue
            gone = any(s in result.stderr.lower() for s in ("no such", "not found", "not known"))
            if result.returncode != 0 and not gone:
                problems.append(f"{what}: exit {result.returncode}: {result.stderr.strip()[-300:]}")
        return problems


def host_env(**overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(overrides)
    return env
