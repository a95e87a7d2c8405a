"""Run the scenarios: each against the mock upstream directly, then through Imagegate.

The gateway runs as a real process (``imagegate serve --config bench/gateway.yaml``) pinned to
CPU 0; the mock upstream and this load generator share CPU 1. For every scenario and run: start
the mock, measure it directly, start a fresh gateway (time to ready, idle RSS), check one answer
end to end, then measure through the gateway while reading its CPU time and memory from /proc.
Medians over the runs go into a table and into ``bench/results/<time>-<commit>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import importlib.metadata
import itertools
import os
import platform
import select
import shutil
import signal
import socket
import statistics
import string
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from bench import loadgen
from bench.loops import run_fast
from bench.pngs import noise_png
from bench.procstat import TreeSampler, busy_seconds, tree, tree_cpu
from bench.scenarios import SCENARIOS, START_TARGETS, Scenario, Target
from bench.scenarios import select as select_scenarios

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "bench" / "gateway.yaml"
RESULTS = ROOT / "bench" / "results"
HOST = "127.0.0.1"
GATEWAY_CPUS = "0"
LOAD_CPU = 1
PROMPT = "a lighthouse at dusk, oil painting"
EDIT_SEED = 11
Metrics = dict[str, Any]


@dataclass
class Options:
    scenarios: list[Scenario]
    duration: float
    runs: int
    out: Path | None
    compare: Path | None
    pin: bool
    profile: Path | None = None
    storage: Path | None = None


@dataclass
class Outcome:
    scenario: Scenario
    status: str = "ok"  # ok | not available | failed
    note: str = ""
    runs: list[Metrics] = field(default_factory=list)
    median: Metrics = field(default_factory=dict)


# ---------------------------------------------------------------------------- processes


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
            raise RuntimeError(f"the mock upstream did not start (see {log})")
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


def start_gateway(
    scenario: Scenario, mock_port: int, work: Path, pin: bool, storage: Path
) -> Gateway:
    port = free_port()
    env = {
        **os.environ,
        "BENCH_MOCK_PORT": str(mock_port),
        "BENCH_STORAGE_DIR": str(storage),
        "BENCH_RESPONSE_FORMAT": scenario.response_format,
    }
    env.pop("IMAGEGATE_CONFIG", None)
    command = [
        str(Path(sys.executable).parent / "imagegate"), "serve", "--config", str(CONFIG),
        "--port", str(port), "--workers", str(scenario.workers),
    ]  # fmt: skip
    cpus = "0,1" if scenario.workers > 1 else GATEWAY_CPUS
    log = work / f"gateway-{scenario.name}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            pinned(cpus, command, pin), cwd=ROOT, env=env, stdout=out, stderr=out
        )
    return Gateway(process, port, storage, log)


async def wait_ready(gateway: Gateway, started: float, workers: int) -> None:
    health = loadgen.build_request("GET", "/healthz", gateway.port)
    deadline = time.perf_counter() + 30
    waited = await loadgen.wait_for_port(HOST, gateway.port, health, deadline)
    if waited is None or gateway.process.poll() is not None:
        raise RuntimeError(f"the gateway did not become ready (see {gateway.log})")
    gateway.ready_s = time.perf_counter() - started
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


def request_for(scenario: Scenario, port: int) -> bytes:
    headers = {"authorization": "Bearer bench"}
    fields = {
        "model": "gpt-image-2",
        "prompt": PROMPT,
        "size": "1024x1024",
        "response_format": scenario.response_format,
    }
    if scenario.operation == "generate":
        body = orjson.dumps(fields)
        return loadgen.build_request(
            "POST", "/v1/images/generations", port, body, "application/json", headers
        )
    boundary = "bench" + uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\ncontent-disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\ncontent-disposition: form-data; name="image"; '
        f'filename="input.png"\r\ncontent-type: image/png\r\n\r\n'.encode()
        + noise_png(scenario.edit_input_bytes, seed=EDIT_SEED)
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return loadgen.build_request(
        "POST",
        "/v1/images/edits",
        port,
        b"".join(parts),
        f"multipart/form-data; boundary={boundary}",
        headers,
    )


def make_check(response_format: str) -> loadgen.Check:
    marker = b'"b64_json":"iVBOR' if response_format == "b64_json" else b'"url":"http'

    def check(status: int, head: bytes) -> str | None:
        if status != 200:
            return f"HTTP {status}: {head[:200]!r}"
        if marker not in head:
            return f"unexpected body: {head[:120]!r}"
        return None

    return check


async def verify_answer(port: int, request: bytes, response_format: str, png: bytes) -> str | None:
    """One request, checked end to end: the image that comes back is the mock's image."""
    status, body = await loadgen.fetch(HOST, port, request, max_wait=60)
    if status != 200:
        return f"HTTP {status}: {body[:300]!r}"
    try:
        item = orjson.loads(body)["data"][0]
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        return f"not an ImagesResponse: {body[:300]!r}"
    if response_format == "b64_json":
        got = base64.b64decode(item.get("b64_json", ""))
    else:
        url = urlsplit(str(item.get("url", "")))
        fetch = loadgen.build_request("GET", url.path, port)
        status, got = await loadgen.fetch(HOST, url.port or port, fetch)
        if status != 200:
            return f"GET {url.path}: HTTP {status}"
    return None if got == png else f"the image differs from the upstream's ({len(got)} bytes)"


# ---------------------------------------------------------------------------- measuring


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


async def measure_direct(scenario: Scenario, mock_port: int, duration: float) -> Metrics:
    request = request_for(scenario, mock_port)
    result = await loadgen.run_load(
        HOST,
        mock_port,
        request,
        concurrency=scenario.concurrency,
        warmup=scenario.warmup,
        duration=duration,
        check=make_check("b64_json"),
    )
    return {
        "direct_rps": result.rps,
        "direct_p50_ms": ms(result.percentile(50)),
        "direct_p90_ms": ms(result.percentile(90)),
        "direct_p99_ms": ms(result.percentile(99)),
        "direct_errors": result.error_count,
    }


async def measure_gateway(scenario: Scenario, gateway: Gateway, duration: float) -> Metrics:
    request = request_for(scenario, gateway.port)
    sampler = gateway.sampler
    edges: dict[str, tuple[float, tuple[float, float, int]]] = {}
    machine: dict[str, tuple[float, float]] = {}

    def on_window(edge: str) -> None:
        edges[edge] = (time.perf_counter(), sampler.cpu())
        machine[edge] = (busy_seconds(), tree_cpu(os.getpid()))

    async def sample_memory() -> None:
        while True:
            sampler.sample()
            await asyncio.sleep(0.02)

    sampling = asyncio.get_running_loop().create_task(sample_memory())
    try:
        result = await loadgen.run_load(
            HOST,
            gateway.port,
            request,
            concurrency=scenario.concurrency,
            warmup=scenario.warmup,
            duration=duration,
            check=make_check(scenario.response_format),
            on_window=on_window,
        )
    finally:
        sampling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampling
    cpu_s = sys_s = wall = None
    faults = 0
    if "start" in edges and "end" in edges:
        faults = edges["end"][1][2] - edges["start"][1][2]
        wall = edges["end"][0] - edges["start"][0]
        user_s = edges["end"][1][0] - edges["start"][1][0]
        sys_s = edges["end"][1][1] - edges["start"][1][1]
        cpu_s = user_s + sys_s
    peak = max(sampler.peak_rss, sampler.high_water())
    foreign = None
    if wall and "start" in machine and "end" in machine:
        busy = machine["end"][0] - machine["start"][0]
        ours = machine["end"][1] - machine["start"][1]
        foreign = max(0.0, busy - ours) / wall  # cores used by processes not of this bench
    return {
        "rps": result.rps,
        "p50_ms": ms(result.percentile(50)),
        "p90_ms": ms(result.percentile(90)),
        "p99_ms": ms(result.percentile(99)),
        "cpu_ms": cpu_s * 1000 / result.completed
        if cpu_s is not None and result.completed
        else None,
        "cpu_use": cpu_s / wall if cpu_s is not None and wall else None,
        "cpu_sys_share": sys_s / cpu_s if sys_s is not None and cpu_s else None,
        "faults_per_req": faults / result.completed if result.completed else None,
        "foreign_cores": foreign,
        "peak_rss_mb": peak / 2**20,
        "errors": result.error_count,
        "error_kinds": result.errors,
        "first_error": result.first_error,
    }


async def run_once(
    scenario: Scenario, opts: Options, work: Path, log: Path
) -> tuple[Metrics, str | None]:
    """One run of one scenario: direct, then through a fresh gateway.

    The second value says why the gateway part is not available (edits on a build without
    them); the direct numbers are still returned.
    """
    with mock_upstream(scenario, log, opts.pin) as mock_port:
        png = noise_png(scenario.image_bytes)
        direct_request = request_for(scenario, mock_port)
        problem = await verify_answer(mock_port, direct_request, "b64_json", png)
        if problem is not None:
            raise RuntimeError(f"the mock upstream answers wrongly: {problem}")
        metrics = await measure_direct(scenario, mock_port, opts.duration)
        started = time.perf_counter()
        assert opts.storage is not None  # set up by run_all
        gateway = start_gateway(scenario, mock_port, work, opts.pin, opts.storage)
        try:
            await wait_ready(gateway, started, scenario.workers)
            metrics["ready_s"] = gateway.ready_s
            metrics["idle_rss_mb"] = gateway.sampler.rss() / 2**20  # started, no request yet
            request = request_for(scenario, gateway.port)
            status, body = await loadgen.fetch(HOST, gateway.port, request, max_wait=60)
            if status in (404, 405) and scenario.operation == "edit":
                why = f"the gateway answers HTTP {status} for edits: not available on this build"
                return metrics, why
            problem = await verify_answer(gateway.port, request, scenario.response_format, png)
            if problem is not None:
                raise RuntimeError(f"the gateway answers wrongly: {problem}")
            await asyncio.sleep(0.2)
            metrics["first_rss_mb"] = gateway.sampler.rss() / 2**20  # after one request
            profiler = start_profiler(scenario, gateway, opts)
            try:
                metrics.update(await measure_gateway(scenario, gateway, opts.duration))
            finally:
                if profiler is not None:
                    profiler.wait(30)
        finally:
            stop(gateway.process)
        if metrics.get("p50_ms") is not None and metrics.get("direct_p50_ms") is not None:
            metrics["added_p50_ms"] = metrics["p50_ms"] - metrics["direct_p50_ms"]
        if metrics.get("direct_rps"):
            metrics["ratio"] = metrics["rps"] / metrics["direct_rps"]
        metrics["log_problems"] = len(log_problems(gateway.log))
        return metrics, None


def median_of(runs: list[Metrics]) -> Metrics:
    keys = [k for k, v in runs[0].items() if isinstance(v, int | float) and not isinstance(v, bool)]
    out: Metrics = {}
    for key in keys:
        values = [run[key] for run in runs if isinstance(run.get(key), int | float)]
        out[key] = statistics.median(values) if values else None
    for key in ("errors", "direct_errors", "log_problems"):
        if key in out:
            out[key] = sum(run.get(key) or 0 for run in runs)
    return out


async def run_scenario(scenario: Scenario, opts: Options, work: Path) -> Outcome:
    outcome = Outcome(scenario)
    log = work / f"mock-{scenario.name}.log"
    for index in range(opts.runs):
        try:
            measured, unavailable = await run_once(scenario, opts, work, log)
        except (RuntimeError, OSError) as exc:
            outcome.status, outcome.note = "failed", str(exc)
            break
        outcome.runs.append(measured)
        if unavailable is not None:
            outcome.status, outcome.note = "not available", unavailable
            print(f"  direct only: {brief(measured)}", flush=True)
            break
        print(f"  run {index + 1}/{opts.runs}: {brief(measured)}", flush=True)
    if outcome.runs:
        outcome.median = median_of(outcome.runs)
        if outcome.status == "failed":
            outcome.note += " (medians are of the runs before the failure)"
    return outcome


def brief(m: Metrics) -> str:
    if m.get("rps") is None:
        rps, p50 = fmt(m.get("direct_rps"), ".0f"), fmt(m.get("direct_p50_ms"), ".2f")
        return f"direct {rps}/s, p50 {p50} ms"
    parts = [
        f"direct {fmt(m.get('direct_rps'), '.0f')}/s",
        f"gateway {fmt(m.get('rps'), '.0f')}/s",
        f"p50 {fmt(m.get('p50_ms'), '.2f')} ms (+{fmt(m.get('added_p50_ms'), '.2f')})",
        f"cpu {fmt(m.get('cpu_ms'), '.2f')} ms/req ({fmt(m.get('cpu_sys_share'), '.0%')} kernel)",
        f"rss {fmt(m.get('peak_rss_mb'), '.0f')} MB",
        f"{fmt(m.get('faults_per_req'), '.0f')} faults/req",
        f"errors {m.get('errors', 0)}",
    ]
    if m.get("first_error"):
        parts.append(f"first: {m['first_error']}")
    if (m.get("foreign_cores") or 0) > NOISY:
        parts.append(f"WARNING: other processes used {m['foreign_cores']:.2f} cores meanwhile")
    return ", ".join(parts)


# ---------------------------------------------------------------------------- reporting


def fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


COLUMNS = (
    ("scenario", 20),
    ("direct/s", 9),
    ("gateway/s", 9),
    ("ratio", 6),
    ("p50 ms", 7),
    ("+p50 ms", 7),
    ("p90 ms", 7),
    ("p99 ms", 7),
    ("CPU ms/req", 10),
    ("CPU use", 7),
    ("peak RSS", 8),
    ("errors", 6),
)


def table(outcomes: list[Outcome]) -> str:
    head = " | ".join(name.ljust(width) for name, width in COLUMNS)
    lines = [f"| {head} |", "|" + "|".join("-" * (width + 2) for _, width in COLUMNS) + "|"]
    for o in outcomes:
        m = o.median
        if o.status != "ok" and not m:
            cells = [o.scenario.name, o.status] + [""] * (len(COLUMNS) - 2)
        elif o.status != "ok":
            cells = [o.scenario.name, fmt(m.get("direct_rps"), ".0f"), o.status]
            cells += [""] * (len(COLUMNS) - len(cells))
        else:
            cells = [
                o.scenario.name,
                fmt(m.get("direct_rps"), ".0f"),
                fmt(m.get("rps"), ".0f"),
                fmt(m.get("ratio"), ".3f"),
                fmt(m.get("p50_ms"), ".2f"),
                fmt(m.get("added_p50_ms"), ".2f"),
                fmt(m.get("p90_ms"), ".2f"),
                fmt(m.get("p99_ms"), ".2f"),
                fmt(m.get("cpu_ms"), ".2f"),
                fmt(m.get("cpu_use"), ".0%"),
                fmt(m.get("peak_rss_mb"), ".0f") + " MB" if m.get("peak_rss_mb") else "-",
                str(m.get("errors", 0)),
            ]
        lines.append(
            "| " + " | ".join(c.ljust(w) for c, (_, w) in zip(cells, COLUMNS, strict=True)) + " |"
        )
    return "\n".join(lines)


def verdicts(outcomes: list[Outcome]) -> list[str]:
    lines = []
    noisy = [o.scenario.name for o in outcomes if any(
        (run.get("foreign_cores") or 0) > NOISY for run in o.runs)]  # fmt: skip
    if noisy:
        lines.append(
            f"WARNING: other processes were busy during {', '.join(noisy)}; "
            "those numbers are disturbed, run again on a quiet machine"
        )
    # One process: scenarios with --workers N hold N copies of the app.
    starts = [o.median for o in outcomes if o.median and o.scenario.workers == 1]
    for target in START_TARGETS:
        values = [m[target.metric] for m in starts if m.get(target.metric) is not None]
        if values:
            measured = statistics.median(values)
            lines.append(verdict("gateway start", target, measured))
    first = [m["first_rss_mb"] for m in starts if m.get("first_rss_mb") is not None]
    if first:
        lines.append(
            f"{'gateway start':<20} info  RSS after its first request: {min(first):.0f} to "
            f"{max(first):.0f} MB (small to 4 MB images)"
        )
    for o in outcomes:
        if o.status != "ok":
            lines.append(f"{o.scenario.name:<20} {o.status.upper()}: {o.note}")
            continue
        for target in o.scenario.targets:
            lines.append(verdict(o.scenario.name, target, o.median.get(target.metric)))
    return lines


def verdict(name: str, target: Target, measured: float | None) -> str:
    held = target.holds(measured)
    word = {True: "PASS", False: "MISS", None: "n/a "}[held]
    return f"{name:<20} {word}  {target} (measured {fmt(measured, '.2f')}{target.unit})"


def environment_info(opts: Options) -> dict[str, Any]:
    def version(package: str) -> str | None:
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return None

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    packages = ("fastapi", "starlette", "uvicorn", "httpx", "httpcore", "aiohttp", "orjson",
                "uvloop", "httptools", "pydantic")  # fmt: skip
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": git("rev-parse", "--short", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "pinned": opts.pin,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "packages": {p: version(p) for p in packages},
        "duration_s": opts.duration,
        "runs": opts.runs,
    }


def write_json(outcomes: list[Outcome], info: dict[str, Any], out: Path | None) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out or RESULTS / f"{stamp}-{info['commit'] or 'nogit'}.json"
    document = {
        "environment": info,
        "scenarios": {
            o.scenario.name: {
                "about": o.scenario.about,
                "concurrency": o.scenario.concurrency,
                "workers": o.scenario.workers,
                "status": o.status,
                "note": o.note,
                "targets": [str(t) for t in o.scenario.targets],
                "median": o.median,
                "runs": o.runs,
            }
            for o in outcomes
        },
    }
    data = orjson.dumps(document, option=orjson.OPT_INDENT_2)
    path.write_bytes(data)
    (RESULTS / "latest.json").write_bytes(data)
    return path


def compare(old_path: Path, outcomes: list[Outcome]) -> list[str]:
    old = orjson.loads(old_path.read_bytes())["scenarios"]
    lines = [f"compared with {old_path}:"]
    for o in outcomes:
        before = (old.get(o.scenario.name) or {}).get("median") or {}
        if not before or not o.median:
            continue
        cells = []
        for key, label in (("rps", "req/s"), ("cpu_ms", "CPU ms/req"), ("peak_rss_mb", "RSS MB")):
            a, b = before.get(key), o.median.get(key)
            if a and b:
                cells.append(f"{label} {a:.2f} -> {b:.2f} ({(b / a - 1) * 100:+.0f}%)")
        lines.append(f"  {o.scenario.name:<20} " + ", ".join(cells))
    return lines


# ---------------------------------------------------------------------------- main


def warm_storage(directory: Path) -> Path:
    """An image directory as a gateway that has been running a while has it: all 4096 shard
    directories (``<id[:2]>``) exist. A fresh one makes nearly every save of its first few
    thousand images also create a directory, which is not what steady state costs."""
    images = directory / "images"
    alphabet = string.ascii_letters + string.digits + "-_"  # secrets.token_urlsafe's
    for shard in itertools.product(alphabet, repeat=2):
        (images / "".join(shard)).mkdir(parents=True, exist_ok=True)
    return images


# Journal-less ext4 skips inodes deleted within the last 60 s (up to 360 s while their inode
# table block is dirty) when it allocates new ones (fs/ext4/ialloc.c, recently_deleted()):
# right after a bench deletes its images, file creation costs several times more (perf:
# recently_deleted() at 22% of the gateway's CPU at gen_small_c1). A run that follows
# another within SETTLE_S seconds waits out the difference.
SETTLE_S = 90.0
# Above this many cores used by other processes during a window, its numbers are suspect.
NOISY = 0.15
CLEANUP_MARK = RESULTS / ".last-cleanup"


def journal_less_ext4(path: Path) -> bool:
    device = mount = fstype = ""
    target = str(path.resolve())
    for line in Path("/proc/mounts").read_text().splitlines():
        fields = line.split()
        point = fields[1].rstrip("/") + "/"
        if (target + "/").startswith(point) and len(point) > len(mount):
            device, mount, fstype = fields[0], point, fields[2]
    if fstype != "ext4":
        return False
    return not any(Path("/proc/fs/jbd2").glob(f"{Path(device).name}-*"))


async def settle(root: Path) -> None:
    try:
        since = time.time() - float(CLEANUP_MARK.read_text())
    except (OSError, ValueError):
        return
    if 0 <= since < SETTLE_S and journal_less_ext4(root):
        wait = SETTLE_S - since
        print(f"waiting {wait:.0f} s: the previous bench deleted its images {since:.0f} s ago "
              "and this file system (ext4 without a journal) makes new files slow for a "
              "minute after deletions", flush=True)  # fmt: skip
        await asyncio.sleep(wait)


async def run_all(opts: Options) -> list[Outcome]:
    """Every scenario, all storing into one warm image directory deleted only at the end.

    Deleting images between runs would slow the next runs' saves on some file systems
    (journal-less ext4 skips recently deleted inodes when allocating; see README).
    """
    outcomes = []
    with contextlib.ExitStack() as cleanup:
        work = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="imagegate-bench-")))
        root = work
        if opts.storage is not None:
            opts.storage.mkdir(parents=True, exist_ok=True)
            where = tempfile.TemporaryDirectory(prefix="imagegate-bench-", dir=opts.storage)
            root = Path(cleanup.enter_context(where))
        await settle(root)
        opts.storage = warm_storage(root)
        for scenario in opts.scenarios:
            print(f"{scenario.name}: {scenario.about}", flush=True)
            outcome = await run_scenario(scenario, opts, work)
            if outcome.status != "ok":
                print(f"  {outcome.status}: {outcome.note}", flush=True)
            outcomes.append(outcome)
    RESULTS.mkdir(parents=True, exist_ok=True)
    CLEANUP_MARK.write_text(f"{time.time():.0f}")
    return outcomes


def parse(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--scenarios",
        default=os.environ.get("SCENARIOS", ""),
        help="comma-separated names or prefixes (default: all); "
        + ", ".join(s.name for s in SCENARIOS),
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=float(os.environ.get("BENCH_DURATION") or 4),
        help="measured seconds per run, after a warm-up (default 4)",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=int(os.environ.get("BENCH_RUNS") or 3),
        help="runs per scenario; the table shows medians (default 3)",
    )
    parser.add_argument("--out", type=Path, help="results JSON (default bench/results/<time>.json)")
    parser.add_argument("--compare", type=Path, help="a previous results JSON to compare with")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    parser.add_argument(
        "--storage-dir",
        type=Path,
        default=os.environ.get("BENCH_STORAGE") or None,
        help="where the gateway stores images (default: the system temp directory); "
        "deleted at the end of the bench",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="record the gateway with py-spy into DIR/<scenario>.txt (collapsed stacks)",
    )
    args = parser.parse_args(argv)
    if not 0.5 <= args.duration <= 120 or not 1 <= args.runs <= 20:
        parser.error("--duration must be 0.5..120 seconds and --runs 1..20")
    try:
        scenarios = select_scenarios(args.scenarios)
    except ValueError as exc:
        parser.error(str(exc))
    pin = not args.no_pin and (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None
    return Options(
        scenarios,
        args.duration,
        args.runs,
        args.out,
        args.compare,
        pin,
        args.profile,
        args.storage_dir,
    )


def main(argv: list[str] | None = None) -> int:
    opts = parse(argv)
    if opts.pin:
        os.sched_setaffinity(0, {LOAD_CPU})
    else:
        print("warning: not pinning (needs 2 CPUs and taskset); numbers are not comparable")
    info = environment_info(opts)
    placement = (
        f"gateway on CPU {GATEWAY_CPUS}, mock upstream and load generator on CPU {LOAD_CPU}"
        if opts.pin
        else "unpinned"
    )
    print(
        f"Imagegate bench: {len(opts.scenarios)} scenario(s) x {opts.runs} run(s) x "
        f"{opts.duration:g} s; {placement}; commit {info['commit']}"
        f"{' (dirty)' if info['dirty'] else ''}",
        flush=True,
    )
    started = time.perf_counter()
    outcomes = run_fast(run_all(opts))
    path = write_json(outcomes, info, opts.out)
    print()
    print(f"Medians of {opts.runs} run(s), {opts.duration:g} s each ({info['cpu']}, "
          f"{info['cpus']} CPUs, Python {info['python']}):")  # fmt: skip
    print(table(outcomes))
    print()
    print("\n".join(verdicts(outcomes)))
    if opts.compare is not None:
        print()
        print("\n".join(compare(opts.compare, outcomes)))
    print(f"\nresults: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} "
          f"({time.perf_counter() - started:.0f} s)")  # fmt: skip
    return 1 if any(o.status == "failed" for o in outcomes) else 0
