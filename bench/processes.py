"""Processes of a run: the mock upstream, the gateway (pinned, readiness, logs) and py-spy."""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench import loadgen
from bench.common import (
    CONFIG,
    GATEWAY_CPUS,
    HOST,
    LOAD_CPU,
    ROOT,
    Options,
)
from bench.procstat import TreeSampler, tree
from bench.scenarios import Scenario


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def pinned(cpus: str, command: list[str], pin: bool) -> list[str]:
    return ["taskset", "-c", cpus, *command] if pin else command


def stop(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout``; only ever the process this bench started."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


@contextlib.contextmanager
def mock_upstream(scenario: Scenario, log: Path, pin: bool) -> Iterator[int]:
    command = [
        sys.executable, "-m", "bench.mock_upstream", "--port", "0",
        "--image-bytes", str(scenario.image_bytes), "--latency", str(scenario.latency),
    ]  # fmt: skip
    with helper(command, log, pin) as port:
        yield port


@contextlib.contextmanager
def s3_sink(scenario: Scenario, log: Path, pin: bool) -> Iterator[dict[str, str]]:
    """The loopback S3 server of a ``storage="s3"`` scenario, as the gateway's environment."""
    if scenario.storage != "s3":
        yield {}
        return
    with helper([sys.executable, "-m", "bench.s3_sink", "--port", "0"], log, pin) as port:
        yield {
            "BENCH_STORAGE_BACKEND": "s3",
            "BENCH_S3_ENDPOINT": f"http://{HOST}:{port}",
            "BENCH_URL_MODE": "signed",
            "AWS_ACCESS_KEY_ID": "bench-access-key",
            "AWS_SECRET_ACCESS_KEY": "bench-secret-key",
        }


@contextlib.contextmanager
def helper(command: list[str], log: Path, pin: bool) -> Iterator[int]:
    """A helper process on the load CPU that prints ``READY <port>`` once it listens."""
    with log.open("ab") as errors:
        process = subprocess.Popen(
            pinned(str(LOAD_CPU), command, pin),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=errors,
        )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 30)
        line = process.stdout.readline().decode() if ready else ""
        if not line.startswith("READY "):
            raise RuntimeError(f"{command[2]} did not start (see {log})")
        yield int(line.split()[1])
    finally:
        stop(process)
        if process.stdout is not None:
            process.stdout.close()


@dataclass
class Gateway:
    process: subprocess.Popen[bytes]
    port: int
    storage: Path
    log: Path
    sampler: TreeSampler = field(default_factory=lambda: TreeSampler([]))
    ready_s: float | None = None
    secrets_file: Path | None = None  # the keys scenarios' client keys, one a line
    secrets: list[str] = field(default_factory=list)


def start_gateway(
    scenario: Scenario,
    mock_port: int,
    work: Path,
    pin: bool,
    storage: Path,
    extra_env: dict[str, str] | None = None,
) -> Gateway:
    port = free_port()
    env = {
        **os.environ,
        **(extra_env or {}),
        "BENCH_MOCK_PORT": str(mock_port),
        "BENCH_STORAGE_DIR": str(storage),
        "BENCH_RESPONSE_FORMAT": scenario.response_format,
        "BENCH_METRICS": "true" if scenario.observability else "false",
        "BENCH_LOG_FORMAT": "json" if scenario.observability else "text",
    }
    env.pop("IMAGEGATE_CONFIG", None)
    command = [
        str(Path(sys.executable).parent / "imagegate"), "serve", "--config", str(CONFIG),
        "--port", str(port), "--workers", str(scenario.workers),
    ]  # fmt: skip
    secrets_file = None
    if scenario.keys:  # the same app on a database of client keys (bench/keys_gateway.py)
        database, secrets_file = work / f"keys-{scenario.name}.sqlite3", work / "keys.txt"
        for stale in (database, Path(f"{database}-wal"), Path(f"{database}-shm"), secrets_file):
            stale.unlink(missing_ok=True)
        options = {"--config": CONFIG, "--port": port, "--keys": scenario.keys}
        options |= {"--database": database, "--secrets": secrets_file}
        command = [sys.executable, "-m", "bench.keys_gateway"]
        command += [str(part) for pair in options.items() for part in pair]
    cpus = "0,1" if scenario.workers > 1 else GATEWAY_CPUS
    log = work / f"gateway-{scenario.name}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            pinned(cpus, command, pin), cwd=ROOT, env=env, stdout=out, stderr=out
        )
    return Gateway(process, port, storage, log, secrets_file=secrets_file)


async def wait_ready(gateway: Gateway, started: float, workers: int) -> None:
    health = loadgen.build_request("GET", "/healthz", gateway.port)
    deadline = time.perf_counter() + 30
    waited = await loadgen.wait_for_port(HOST, gateway.port, health, deadline)
    if waited is None or gateway.process.poll() is not None:
        raise RuntimeError(f"the gateway did not become ready (see {gateway.log})")
    gateway.ready_s = time.perf_counter() - started
    if gateway.secrets_file is not None:
        gateway.secrets = gateway.secrets_file.read_text().split()
    # With --workers N, wait until the supervisor has all its workers before sampling /proc.
    while len(tree(gateway.process.pid)) < (workers + 1 if workers > 1 else 1):
        if time.perf_counter() > deadline:
            raise RuntimeError("the gateway's workers did not all start")
        await asyncio.sleep(0.05)
    if workers > 1:
        await asyncio.sleep(0.5)  # every worker imports the app before it serves
    gateway.sampler = TreeSampler(tree(gateway.process.pid))


def start_profiler(
    scenario: Scenario, gateway: Gateway, opts: Options
) -> subprocess.Popen[bytes] | None:
    """py-spy over the whole load (warm-up included), as collapsed stacks: ``--profile DIR``."""
    if opts.profile is None:
        return None
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    opts.profile.mkdir(parents=True, exist_ok=True)
    out = opts.profile / f"{scenario.name}.txt"
    command = [
        py_spy, "record", "--pid", str(gateway.process.pid), "--rate", "250", "--format", "raw",
        "--duration", str(int(scenario.warmup + opts.duration + 0.999)), "--output", str(out),
        "--nonblocking", "--threads", "--gil",
    ]  # fmt: skip
    if scenario.workers > 1:
        command.append("--subprocesses")
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def log_problems(log: Path) -> list[str]:
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return []
    return [line for line in lines if " ERROR " in line or line.startswith("Traceback")]


# ---------------------------------------------------------------------------- requests
