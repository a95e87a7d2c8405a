"""The scenarios of issue 7 and their targets (one core for the gateway unless stated)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Operation = Literal["generate", "edit"]
ResponseFormat = Literal["url", "b64_json"]
StorageBackend = Literal["local", "s3"]

SMALL = 50_000  # bytes of PNG: about 67 KB of base64
LARGE = 3_000_000  # about 4 MB of base64
EDIT_INPUT = 1_000_000


@dataclass(frozen=True, slots=True)
class Target:
    metric: str  # a key of the gateway metrics (see bench.run.Metrics)
    op: Literal["<=", ">="]
    value: float
    unit: str

    def holds(self, measured: float | None) -> bool | None:
        if measured is None:
            return None
        return measured <= self.value if self.op == "<=" else measured >= self.value

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}{self.unit}"


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    about: str
    concurrency: int
    image_bytes: int = SMALL  # what the mock upstream answers with
    operation: Operation = "generate"
    response_format: ResponseFormat = "url"  # what the client asks the gateway for
    latency: float = 0.0  # mock upstream delay, seconds
    workers: int = 1
    edit_input_bytes: int = 0
    warmup: float = 1.0
    keys: int = 0  # client keys with budgets and rate limits in an SQLite database (0: open)
    targets: tuple[Target, ...] = ()
    observability: bool = False  # metrics and JSON logs on (off: the bench's baseline)
    storage: StorageBackend = "local"  # s3: signed URLs on a loopback S3 server (bench/s3_sink)
    replicas: int = 1  # >1: that many gateway processes on PostgreSQL + Redis (bench/replicas.py)


# Targets that hold for every scenario's gateway process (start-up and idle memory).
START_TARGETS = (
    Target("ready_s", "<=", 1.5, " s"),
    Target("idle_rss_mb", "<=", 80, " MB"),
)

SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "gen_small_c1",
        "generations, 50 KB PNG, concurrency 1: latency added over direct",
        concurrency=1,
        targets=(Target("added_p50_ms", "<=", 1.5, " ms"),),
    ),
    Scenario(
        "gen_small_c64",
        "generations, 50 KB PNG, concurrency 64: throughput on one core",
        concurrency=64,
        targets=(Target("rps", ">=", 600, "/s"), Target("cpu_ms", "<=", 1.6, " ms")),
    ),
    Scenario(
        "gen_small_c64_obs",
        "gen_small_c64 with /metrics and JSON logs on: compare cpu_ms with gen_small_c64",
        concurrency=64,
        observability=True,
        targets=(Target("rps", ">=", 600, "/s"), Target("cpu_ms", "<=", 1.65, " ms")),
    ),
    Scenario(
        "gen_large_c16_url",
        "generations, 3 MB PNG (4 MB base64), concurrency 16, response_format=url",
        concurrency=16,
        image_bytes=LARGE,
        targets=(Target("rps", ">=", 100, "/s"), Target("peak_rss_mb", "<=", 250, " MB")),
    ),
    Scenario(
        "gen_large_c16_url_s3",
        "gen_large_c16_url storing into S3 (loopback server), signed URLs: compare cpu_ms",
        concurrency=16,
        image_bytes=LARGE,
        storage="s3",
        targets=(Target("rps", ">=", 100, "/s"), Target("peak_rss_mb", "<=", 250, " MB")),
    ),
    Scenario(
        "gen_large_c16_b64",
        "generations, 3 MB PNG (4 MB base64), concurrency 16, response_format=b64_json",
        concurrency=16,
        image_bytes=LARGE,
        response_format="b64_json",
        targets=(Target("rps", ">=", 60, "/s"), Target("peak_rss_mb", "<=", 250, " MB")),
    ),
    Scenario(
        "edit_1m_c8",
        "multipart edits, one 1 MB PNG input (50 KB PNG answer), concurrency 8",
        concurrency=8,
        operation="edit",
        edit_input_bytes=EDIT_INPUT,
        targets=(Target("rps", ">=", 150, "/s"),),
    ),
    Scenario(
        "slow_upstream_c256",
        "generations, upstream latency 1 s, concurrency 256: no serialization, bounded memory",
        concurrency=256,
        latency=1.0,
        warmup=2.5,
        targets=(Target("rps", ">=", 230, "/s"), Target("peak_rss_mb", "<=", 250, " MB")),
    ),
    Scenario(
        "keys_c64",
        "gen_small_c64 with 100 database keys (budgets, rate limits): compare gen_small_c64",
        concurrency=64,
        keys=100,
    ),
    Scenario(
        "keys_c1",
        "gen_small_c1 with 100 database keys (budgets, rate limits): latency added over direct",
        concurrency=1,
        keys=100,
        targets=(Target("added_p50_ms", "<=", 1.5, " ms"),),
    ),
    Scenario(
        "workers2",
        "gen_small_c64 with --workers 2 on both cores (mock and load generator share CPU 1)",
        concurrency=64,
        workers=2,
    ),
    Scenario(
        "replicas2",
        "keys_c64 on 2 gateway processes sharing PostgreSQL and Redis, both cores: speed-up "
        "over 1 process in the same run, Redis and database round trips per request",
        concurrency=64,
        keys=100,
        replicas=2,
        targets=(Target("speedup", ">=", 1.7, "x"),),
    ),
)

BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}


def select(spec: str) -> list[Scenario]:
    """Scenarios named in a comma-separated list; a name may be a prefix (``gen_large_c16``)."""
    if not spec.strip() or spec.strip() == "all":
        return list(SCENARIOS)
    chosen: list[Scenario] = []
    for word in (part.strip() for part in spec.split(",")):
        if not word:
            continue
        matches = [s for s in SCENARIOS if s.name == word] or [
            s for s in SCENARIOS if s.name.startswith(word)
        ]
        if not matches:
            known = ", ".join(s.name for s in SCENARIOS)
            raise ValueError(f"unknown scenario '{word}' (known: {known})")
        chosen.extend(s for s in matches if s not in chosen)
    return chosen
