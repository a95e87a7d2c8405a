"""Reporting: the table, verdicts against the targets, the JSON results and comparisons."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import statistics
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench.common import (
    NOISY,
    RESULTS,
    ROOT,
    Metrics,
    Options,
    Outcome,
)
from bench.scenarios import START_TARGETS, Target


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
    lines.extend(keys_overhead(outcomes))
    return lines


# Issue 12: database keys may add at most this much CPU per request over the open gateway.
KEYS_CPU_BUDGET_MS = 0.25


def keys_overhead(outcomes: list[Outcome]) -> list[str]:
    """``keys_c64`` against ``gen_small_c64`` of the same run: the CPU keys add per request."""
    by_name = {o.scenario.name: o.median for o in outcomes if o.status == "ok"}
    keyed, open_ = by_name.get("keys_c64", {}), by_name.get("gen_small_c64", {})
    if keyed.get("cpu_ms") is None or open_.get("cpu_ms") is None:
        return []
    added = keyed["cpu_ms"] - open_["cpu_ms"]
    ok = "PASS" if added <= KEYS_CPU_BUDGET_MS else "MISS"
    return [
        f"{'keys_c64':<20} {ok}  CPU per request {added:+.3f} ms over gen_small_c64 "
        f"({keyed['cpu_ms']:.3f} vs {open_['cpu_ms']:.3f}; target <= +{KEYS_CPU_BUDGET_MS} ms)"
    ]


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
