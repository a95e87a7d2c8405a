"""What the bench modules share: paths, fixed choices, options and a scenario's outcome."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.scenarios import Scenario

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "bench" / "gateway.yaml"
RESULTS = ROOT / "bench" / "results"
HOST = "127.0.0.1"
GATEWAY_CPUS = "0"
LOAD_CPU = 1
PROMPT = "a lighthouse at dusk, oil painting"
EDIT_SEED = 11
Metrics = dict[str, Any]
# Cores used by other processes during a measurement above which its numbers are suspect.
NOISY = 0.15


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
