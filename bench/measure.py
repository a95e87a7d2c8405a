"""Measuring one scenario: the request, the end-to-end check, direct and gateway runs, medians."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import statistics
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import orjson

from bench import loadgen
from bench.common import (
    EDIT_SEED,
    HOST,
    PROMPT,
    Metrics,
    Options,
    Outcome,
)
from bench.pngs import noise_png
from bench.processes import (
    Gateway,
    log_problems,
    mock_upstream,
    s3_sink,
    start_gateway,
    start_profiler,
    stop,
    wait_ready,
)
from bench.procstat import busy_seconds, tree_cpu
from bench.report import brief
from bench.scenarios import Scenario


def request_for(scenario: Scenario, port: int, key: str = "bench") -> bytes:
    headers = {"authorization": f"Bearer {key}"}
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


def gateway_requests(scenario: Scenario, gateway: Gateway) -> list[bytes]:
    """The request once per client key (the load rotates through them), or once when open."""
    keys = gateway.secrets or ["bench"]
    return [request_for(scenario, gateway.port, key) for key in keys]


async def measure_gateway(scenario: Scenario, gateway: Gateway, duration: float) -> Metrics:
    request = gateway_requests(scenario, gateway)
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
    if scenario.replicas > 1:  # several processes on shared state: its own sequence
        from bench import replicas  # imports this module

        return await replicas.run_once(scenario, opts, work, log), None
    with contextlib.ExitStack() as stack, mock_upstream(scenario, log, opts.pin) as mock_port:
        png = noise_png(scenario.image_bytes)
        direct_request = request_for(scenario, mock_port)
        problem = await verify_answer(mock_port, direct_request, "b64_json", png)
        if problem is not None:
            raise RuntimeError(f"the mock upstream answers wrongly: {problem}")
        metrics = await measure_direct(scenario, mock_port, opts.duration)
        started = time.perf_counter()
        assert opts.storage is not None  # set up by run_all
        sink = stack.enter_context(s3_sink(scenario, log, opts.pin))
        gateway = start_gateway(scenario, mock_port, work, opts.pin, opts.storage, sink)
        try:
            await wait_ready(gateway, started, scenario.workers)
            metrics["ready_s"] = gateway.ready_s
            metrics["idle_rss_mb"] = gateway.sampler.rss() / 2**20  # started, no request yet
            request = gateway_requests(scenario, gateway)[0]
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
        if scenario.replicas > 1:
            from bench.replicas import brief as replicas_brief

            print(f"    {replicas_brief(measured)}", flush=True)
    if outcome.runs:
        outcome.median = median_of(outcome.runs)
        if outcome.status == "failed":
            outcome.note += " (medians are of the runs before the failure)"
    return outcome
