"""The ``replicas`` scenarios (issue 13 "Speed"): gateway processes sharing PostgreSQL and
Redis state, with the keys scenario's client keys (budgets and rate limits) in the database.

One run, on a fresh PostgreSQL database seeded with the keys: the mock upstream directly, then
ONE gateway process, then ``scenario.replicas`` processes (each ``imagegate serve --workers
1``, all allowed on both cores, the load split evenly over their ports), so the speed-up is
measured in the same run on the same machine state. For each, the round trips to the shared
state per request over the measured window: Redis commands (INFO commandstats, server-wide:
other Redis clients on the machine add to it) and database transactions (pg_stat_database
xact_commit + xact_rollback of the bench's own database; PostgreSQL flushes these counters
about once a second per connection, so they are approximate to a few per cent).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]  # no stubs; a runtime dependency

from bench import loadgen
from bench.common import CONFIG, HOST, ROOT, Metrics, Options
from bench.keys_gateway import seed
from bench.measure import gateway_requests, make_check, measure_direct, ms, verify_answer
from bench.pngs import noise_png
from bench.processes import Gateway, free_port, mock_upstream, pinned, stop, wait_ready
from bench.scenarios import Scenario

POSTGRES = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_HOST, REDIS_PORT = "127.0.0.1", int(os.environ.get("BENCH_REDIS_PORT", "6379"))
REDIS_DB = os.environ.get("BENCH_REDIS_DB", "13")  # its own database number on the shared server
CPUS = "0,1"


@asynccontextmanager
async def bench_database() -> AsyncIterator[str]:
    """A fresh PostgreSQL database for one run, dropped afterwards."""
    name = f"imagegate_bench_replicas_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(POSTGRES)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield POSTGRES.rsplit("/", 1)[0] + f"/{name}"
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def redis_commands() -> int:
    """Commands the Redis server has run so far (INFO commandstats, summed)."""
    reader, writer = await asyncio.open_connection(REDIS_HOST, REDIS_PORT)
    try:
        writer.write(b"INFO commandstats\r\n")
        await writer.drain()
        size = int((await reader.readline())[1:])
        text = (await reader.readexactly(size + 2)).decode()
    finally:
        writer.close()
    return sum(
        int(line.split("calls=", 1)[1].split(",", 1)[0])
        for line in text.splitlines()
        if line.startswith("cmdstat_")
    )


async def database_counters(url: str) -> tuple[int, int]:
    """Transactions of the bench's database so far, and checkpoints requested on the server
    (CREATE/DROP DATABASE of other test suites force one each: they stall every writer, so a
    window with several is disturbed)."""
    name = url.rsplit("/", 1)[1]
    connection = await asyncpg.connect(POSTGRES)
    try:
        row = await connection.fetchrow(
            "SELECT (SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1),"
            " (SELECT checkpoints_req FROM pg_stat_bgwriter)",
            name,
        )
    finally:
        await connection.close()
    return int(row[0] or 0), int(row[1] or 0)


def start(scenario: Scenario, mock_port: int, work: Path, opts: Options, url: str) -> Gateway:
    port = free_port()
    assert opts.storage is not None
    env = {
        **os.environ,
        "BENCH_MOCK_PORT": str(mock_port),
        "BENCH_STORAGE_DIR": str(opts.storage),
        "BENCH_RESPONSE_FORMAT": scenario.response_format,
        "IMAGEGATE_DATABASE_URL": url,
        "IMAGEGATE_REDIS_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}",
    }
    env.pop("IMAGEGATE_CONFIG", None)
    command = [str(Path(sys.executable).parent / "imagegate"), "serve", "--config", str(CONFIG),
               "--port", str(port), "--workers", "1"]  # fmt: skip
    log = work / f"gateway-{scenario.name}-{port}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            pinned(CPUS, command, opts.pin), cwd=ROOT, env=env, stdout=out, stderr=out
        )
    return Gateway(process, port, opts.storage, log)


async def measure(
    scenario: Scenario, gateways: list[Gateway], opts: Options, url: str, keys: list[str]
) -> Metrics:
    """The load split over ``gateways``; throughput, latency, CPU and shared-state trips."""
    counters: dict[str, tuple[float, int, tuple[int, int], float]] = {}
    pending: list[asyncio.Task[None]] = []

    async def snapshot(edge: str) -> None:
        cpu = sum(sum(g.sampler.cpu()[:2]) for g in gateways)
        redis, database = await asyncio.gather(redis_commands(), database_counters(url))
        counters[edge] = (time.perf_counter(), redis, database, cpu)

    def on_window(edge: str) -> None:
        pending.append(asyncio.get_running_loop().create_task(snapshot(edge)))

    share = scenario.concurrency // len(gateways)
    loads = [
        loadgen.run_load(
            HOST,
            gateway.port,
            gateway_requests(scenario, gateway),
            concurrency=share,
            warmup=scenario.warmup,
            duration=opts.duration,
            check=make_check(scenario.response_format),
            on_window=on_window if index == 0 else None,
        )
        for index, gateway in enumerate(gateways)
    ]
    results = await asyncio.gather(*loads)
    await asyncio.gather(*pending)
    completed = sum(r.completed for r in results)
    latencies = sorted(latency for r in results for latency in r.latencies)
    metrics: Metrics = {
        "rps": sum(r.rps for r in results),
        "p50_ms": ms(latencies[len(latencies) // 2]) if latencies else None,
        "p99_ms": ms(latencies[int(len(latencies) * 0.99)]) if latencies else None,
        "errors": sum(r.error_count for r in results),
        "first_error": next((r.first_error for r in results if r.first_error), None),
    }
    if completed and {"start", "end"} <= counters.keys():
        (t0, redis0, db0, cpu0), (t1, redis1, db1, cpu1) = counters["start"], counters["end"]
        metrics["redis_per_req"] = (redis1 - redis0 - 2) / completed  # less the INFO calls
        metrics["db_xact_per_req"] = (db1[0] - db0[0]) / completed
        metrics["forced_checkpoints"] = db1[1] - db0[1]
        metrics["cpu_ms"] = (cpu1 - cpu0) * 1000 / completed
        metrics["cpu_use"] = (cpu1 - cpu0) / (t1 - t0)
    return metrics


async def run_once(scenario: Scenario, opts: Options, work: Path, log: Path) -> Metrics:
    png = noise_png(scenario.image_bytes)
    with mock_upstream(scenario, log, opts.pin) as mock_port:
        metrics = await measure_direct(scenario, mock_port, opts.duration)
        async with bench_database() as url:
            keys = await seed(url, scenario.keys)
            for count, suffix in ((1, "_one"), (scenario.replicas, "")):
                gateways = [start(scenario, mock_port, work, opts, url) for _ in range(count)]
                try:
                    for gateway in gateways:
                        await wait_ready(gateway, time.perf_counter(), 1)
                        gateway.secrets = keys
                        request = gateway_requests(scenario, gateway)[0]
                        problem = await verify_answer(
                            gateway.port, request, scenario.response_format, png
                        )
                        if problem is not None:
                            raise RuntimeError(f"the gateway answers wrongly: {problem}")
                    measured = await measure(scenario, gateways, opts, url, keys)
                finally:
                    for gateway in gateways:
                        stop(gateway.process)
                metrics.update({f"{key}{suffix}": value for key, value in measured.items()})
    if metrics.get("rps") and metrics.get("rps_one"):
        metrics["speedup"] = metrics["rps"] / metrics["rps_one"]
    if metrics.get("direct_rps"):
        metrics["ratio"] = metrics["rps"] / metrics["direct_rps"]
    return metrics


def brief(metrics: Metrics) -> str:
    def get(key: str, spec: str) -> str:
        value = metrics.get(key)
        return "-" if value is None else format(value, spec)

    return (
        f"1 process {get('rps_one', '.0f')}/s ({get('cpu_ms_one', '.2f')} ms CPU/req), "
        f"{get('speedup', '.2f')}x with replicas: {get('rps', '.0f')}/s "
        f"({get('cpu_ms', '.2f')} ms CPU/req); per request: Redis "
        f"{get('redis_per_req', '.2f')} (1 process {get('redis_per_req_one', '.2f')}), "
        f"database transactions {get('db_xact_per_req', '.2f')} "
        f"(1 process {get('db_xact_per_req_one', '.2f')}); checkpoints forced by others "
        f"meanwhile {get('forced_checkpoints', 'd')} (1 process "
        f"{get('forced_checkpoints_one', 'd')}); errors {metrics.get('errors', 0)}"
    )
