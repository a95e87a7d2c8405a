"""The image driven the way users drive it: the openai SDK against containers on loopback."""

from __future__ import annotations

import hashlib
import io
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
from PIL import Image

from tests.docker.podman import (
    Cleanup,
    Compose,
    free_port,
    host_env,
    inspect,
    logs,
    run,
    wait_exit,
    wait_until_serving,
)
from tests.docker.report import Report

MAX_READY_S = 3.0
UPSTREAM_PORT = 9099  # inside the container's own network namespace
UPSTREAM_DELAY = 5.0
UPSTREAM_MARKER = "/tmp/upstream-request"
UPSTREAM_SIDE = 16  # tests/docker/slow_upstream.py answers with a 16x16 PNG


@dataclass
class Run:
    root: Path
    run_id: str
    tag: str
    python_version: str
    workdir: Path
    report: Report
    cleanup: Cleanup


def start(ctx: Run, suffix: str, *env: str) -> tuple[str, str, float]:
    """``podman run -d`` on a free loopback port; (container, base URL, seconds to ready)."""
    name, port = f"{ctx.run_id}-{suffix}", free_port()
    ctx.cleanup.add(f"container {name}", ["podman", "rm", "--force", "--volumes", "-t", "0", name])
    flags = [arg for pair in (("-e", e) for e in env) for arg in pair]
    began = time.monotonic()
    run(
        ["podman", "run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8080", *flags, ctx.tag],
        timeout=60,
    )
    base = f"http://127.0.0.1:{port}"
    wait_until_serving(f"{base}/healthz", timeout=30)
    return name, base, time.monotonic() - began


def generate(base: str, key: str, size: str = "1536x1024") -> tuple[str, str]:
    """One generation through the official SDK; (image URL, carrier that served it)."""
    http = openai.DefaultHttpxClient(trust_env=False, timeout=60)
    with openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0, http_client=http) as sdk:
        raw = sdk.images.with_raw_response.generate(
            model="gpt-image-2", prompt="a red fox in the snow", size=size
        )
        url = (raw.parse().data or [])[0].url
    if not url:
        raise ValueError("the response carries no image URL")
    return url, raw.headers.get("x-imagegate-carrier", "?")


def fetch_png(url: str) -> tuple[bytes, tuple[int, int]]:
    response = httpx.get(url, timeout=10, trust_env=False)
    response.raise_for_status()
    if response.headers.get("content-type") != "image/png":
        raise ValueError(f"{url} is {response.headers.get('content-type')}, not image/png")
    return response.content, Image.open(io.BytesIO(response.content)).size


def refuses_open(ctx: Run) -> None:
    name = f"{ctx.run_id}-open"
    ctx.cleanup.add(f"container {name}", ["podman", "rm", "--force", "--volumes", "-t", "0", name])
    result = run(["podman", "run", "--rm", "--name", name, ctx.tag], timeout=60, check=False)
    ctx.report.check(
        "with no gateway key and no IMAGEGATE_ALLOW_OPEN it refuses to start (exit 2)",
        result.returncode == 2 and "refusing to serve" in result.stderr,
        f"exit {result.returncode}",
    )


def serves_with_key(ctx: Run) -> None:
    report, key = ctx.report, "ig-docker-test-" + secrets.token_hex(8)
    name, base, ready = start(ctx, "serve", f"IMAGEGATE_API_KEY={key}")
    report.measure(
        "time to ready",
        f"{ready:.2f} s (podman run -> first 200 on /healthz; limit {MAX_READY_S:.0f} s)",
    )
    report.check(f"serving in under {MAX_READY_S:.0f} s", ready < MAX_READY_S, f"{ready:.2f} s")
    status = run(["podman", "exec", name, "cat", "/proc/1/status"], timeout=30).stdout
    uid = next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:"))
    report.check("the server process (PID 1) is not root", uid != "0", f"uid {uid}")
    health = run(["podman", "healthcheck", "run", name], timeout=30, check=False)
    report.check(
        "`podman healthcheck run` (the image's HEALTHCHECK) is healthy",
        health.returncode == 0,
        (health.stdout + health.stderr).strip()[-200:],
    )
    try:
        generate(base, "not-the-key")
        refused = False
    except openai.AuthenticationError:
        refused = True
    report.check("a request with a wrong gateway key gets 401", refused)
    url, carrier = generate(base, key)
    report.check("openai SDK generates through the local carrier", carrier == "local", carrier)
    _, size = fetch_png(url)
    report.check("the re-hosted URL serves the PNG", size == (1536, 1024), f"{url} {size}")


def drains_on_sigterm(ctx: Run) -> None:
    """SIGTERM while a generation waits on a slow carrier: the request still completes."""
    report = ctx.report
    name, base, _ = start(
        ctx,
        "drain",
        "IMAGEGATE_ALLOW_OPEN=1",
        "OPENAI_API_KEY=sk-docker-test-not-a-key",
        f"OPENAI_BASE_URL=http://127.0.0.1:{UPSTREAM_PORT}/v1",
    )
    _start_slow_upstream(ctx, name)
    with ThreadPoolExecutor(max_workers=1) as pool:
        began = time.monotonic()
        pending = pool.submit(generate, base, "unused", "1024x1024")
        _poll(["podman", "exec", name, "test", "-e", UPSTREAM_MARKER], "request in flight", 15)
        signalled = time.monotonic()
        run(["podman", "kill", "--signal", "TERM", name], timeout=30)
        time.sleep(0.3)
        report.check("no new connections once SIGTERM arrived", not _answers(f"{base}/healthz"))
        url, carrier = pending.result(timeout=60)
        finished = time.monotonic()
    code = wait_exit(name, timeout=45)
    stopped = time.monotonic()
    report.measure(
        "graceful shutdown",
        f"SIGTERM {signalled - began:.1f} s into a {UPSTREAM_DELAY:.0f} s generation; it "
        f"completed {finished - signalled:.1f} s later; process exited {code} "
        f"{stopped - signalled:.1f} s after the signal",
    )
    report.check(
        "the in-flight request completes after SIGTERM (200 via the slow carrier)",
        carrier == "openai",
        carrier,
    )
    report.check("the gateway exits cleanly after draining", code == 0, f"exit {code}")
    if code != 0:
        print(logs(name)[-2000:])
    run(["podman", "start", name], timeout=60)
    wait_until_serving(f"{base}/healthz", timeout=30)
    _, size = fetch_png(url)
    report.check("the image of the drained request was stored", size == (UPSTREAM_SIDE,) * 2)


def compose_stack(ctx: Run) -> None:
    report, port = ctx.report, free_port()
    settings = {
        "IMAGEGATE_PORT": str(port),
        "IMAGEGATE_IMAGE": ctx.tag,
        "PYTHON_VERSION": ctx.python_version,
    }
    env_file = ctx.workdir / "compose.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    # The shell's values win over any env file: blank every key, so a developer's real keys
    # (in the environment or in ./.env, which --env-file keeps out) never reach the test stack.
    blank = (
        "IMAGEGATE_API_KEY",
        "IMAGEGATE_ALLOW_OPEN",
        "IMAGEGATE_PUBLIC_URL",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "RESELLER_BASE_URL",
        "RESELLER_API_KEY",
    )
    env = host_env(BUILDAH_FORMAT="docker", **settings, **dict.fromkeys(blank, ""))
    compose = Compose(ctx.run_id, ctx.root / "compose.yaml", env_file, env)
    volume = f"{ctx.run_id}_images"
    ctx.cleanup.add(
        f"network {ctx.run_id}_default", ["podman", "network", "rm", "-f", f"{ctx.run_id}_default"]
    )
    ctx.cleanup.add(f"volume {volume}", ["podman", "volume", "rm", "-f", volume])
    ctx.cleanup.add(f"compose project {ctx.run_id}", compose.command("down", "--volumes"), env)
    compose("build", timeout=900)
    report.check("`podman-compose build` passes PYTHON_VERSION through", True)
    url, original = _compose_up_and_generate(ctx, compose, port)
    compose("down", timeout=120)
    kept = run(["podman", "volume", "exists", volume], timeout=30, check=False).returncode == 0
    report.check("`podman-compose down` keeps the named volume", kept, volume)
    compose("up", "-d", timeout=180)
    wait_until_serving(f"http://127.0.0.1:{port}/healthz", timeout=30)
    again, _ = fetch_png(url)
    report.check(
        "the image is still served after the stack is re-created",
        again == original,
        f"sha256 {hashlib.sha256(again).hexdigest()[:12]}",
    )
    compose("down", "--volumes", timeout=120)
    gone = run(["podman", "volume", "exists", volume], timeout=30, check=False).returncode != 0
    report.check("`podman-compose down --volumes` removes the volume", gone)


def _compose_up_and_generate(ctx: Run, compose: Compose, port: int) -> tuple[str, bytes]:
    report, base = ctx.report, f"http://127.0.0.1:{port}"
    began = time.monotonic()
    compose("up", "-d", timeout=180)
    wait_until_serving(f"{base}/healthz", timeout=30)
    report.measure("compose up", f"{time.monotonic() - began:.2f} s to the first 200 on /healthz")
    report.check("`podman-compose up -d` serves on 127.0.0.1 with no keys", True, base)
    container = compose.container()
    health = run(["podman", "healthcheck", "run", container], timeout=30, check=False)
    report.check("compose healthcheck passes (`podman healthcheck run`)", health.returncode == 0)
    host = inspect("container", container)["HostConfig"]
    policy = host["RestartPolicy"]["Name"]
    report.check("restart policy unless-stopped", policy == "unless-stopped", policy)
    report.check("read-only root file system", host["ReadonlyRootfs"] is True)
    url, carrier = generate(base, "anything-when-open")
    data, size = fetch_png(url)
    report.check(
        "compose stack generates and serves an image", size == (1536, 1024), f"{carrier}, {url}"
    )
    return url, data


def _start_slow_upstream(ctx: Run, container: str) -> None:
    """tests/docker/slow_upstream.py inside the container: copied in, never in the image."""
    script = ctx.root / "tests" / "docker" / "slow_upstream.py"
    run(["podman", "cp", str(script), f"{container}:/tmp/slow_upstream.py"], timeout=30)
    serve = [str(UPSTREAM_PORT), str(UPSTREAM_DELAY), UPSTREAM_MARKER]
    run(["podman", "exec", "-d", container, "python", "/tmp/slow_upstream.py", *serve], timeout=30)
    probe = f"import socket; socket.create_connection(('127.0.0.1', {UPSTREAM_PORT}), 1)"
    _poll(["podman", "exec", container, "python", "-c", probe], "slow upstream listening", 15)


def _poll(command: list[str], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while run(command, timeout=30, check=False).returncode != 0:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} within {timeout:.0f} s")
        time.sleep(0.1)


def _answers(url: str) -> bool:
    try:
        httpx.get(url, timeout=1, trust_env=False)
    except httpx.HTTPError:
        return False
    return True
