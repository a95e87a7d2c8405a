"""What a real ``imagegate serve`` logs: every worker of ``--workers N`` logs like one process,
``--log-level debug`` adds the attempts, and carriers left without keys are one INFO line."""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from tests.support.gateway import RunningGateway, stop_gateway, wait_until
from tests.support.shipped import start_shipped_gateway

REQUESTS = 16


def offline(data: dict[str, Any]) -> None:
    for model in data["models"]:
        model["carriers"] = [{"carrier": "local"}]


def generate(gateway: RunningGateway, request_id: str) -> int:
    """One small generation on a connection of its own (so the workers share them out)."""
    response = httpx.post(
        f"{gateway.url}/v1/images/generations",
        json={"model": "dall-e-2", "prompt": "a small boat", "size": "256x256"},
        headers={"x-request-id": request_id},
        timeout=30,
    )
    return response.status_code


def lines(gateway: RunningGateway, pattern: str) -> list[re.Match[str]]:
    return [m for m in (re.search(pattern, line) for line in gateway.log().splitlines()) if m]


def test_every_worker_logs_access_and_usage_lines(
    gateway_factory: Callable[..., RunningGateway],
) -> None:
    gateway = gateway_factory(offline, "--workers", "2")
    wait_until(
        lambda: len(lines(gateway, r"INFO uvicorn.error \[-\] Started server process")) == 2,
        what="both workers log that they started",
    )
    started = lines(gateway, r"Started server process \[(\d+)\]")
    assert len({match.group(1) for match in started}) == 2  # two processes, each logging
    ids = [f"worker-{i:02d}" for i in range(REQUESTS)]
    with ThreadPoolExecutor(REQUESTS) as pool:
        assert list(pool.map(lambda rid: generate(gateway, rid), ids)) == [200] * REQUESTS

    def logged() -> bool:
        access = lines(gateway, r"INFO imagegate.access \[(worker-\d+)\] POST \S+ 200 ")
        usage = lines(gateway, r"INFO imagegate.usage \[\S+\] usage request=(worker-\d+) ")
        return sorted(m.group(1) for m in access) == sorted(m.group(1) for m in usage) == ids

    wait_until(logged, what="one access line and one usage line per request")
    assert "attempt on" not in gateway.log() and " DEBUG " not in gateway.log()


def test_debug_adds_attempt_lines(gateway_factory: Callable[..., RunningGateway]) -> None:
    gateway = gateway_factory(offline, "--log-level", "debug")
    assert generate(gateway, "debugged-1") == 200
    wait_until(
        lambda: bool(lines(gateway, r"DEBUG app.run.pipeline \[debugged-1\] attempt on local ")),
        what="the attempt is logged at debug level",
    )
    assert lines(gateway, r"DEBUG app.wiring \[-\] carrier local \(local\) enabled")


def test_carriers_without_keys_are_one_info_line_and_no_warning(tmp_path: Path) -> None:
    gateway = start_shipped_gateway(tmp_path)
    try:
        assert generate(gateway, "newcomer-1") == 200
        wait_until(lambda: "usage request=newcomer-1" in gateway.log(), what="the usage line")
    finally:
        stop_gateway(gateway)
    log = gateway.log()
    disabled = [line for line in log.splitlines() if "carriers disabled" in line]
    assert len(disabled) == 1, log
    assert re.search(r" INFO app\.wiring \[-\] carriers disabled: openai \(.+\); reseller \(", log)
    assert " WARNING " not in log and " ERROR " not in log, log
