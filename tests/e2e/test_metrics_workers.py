"""``imagegate serve --workers 2``: every scrape, whichever worker answers it, sums both workers;
the gateway makes (and removes) its own multiprocess directory, the operator sets nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.cli import main
from tests.support.config import base_config, write_config
from tests.support.gateway import (
    RunningGateway,
    free_port,
    start_gateway,
    stop_gateway,
    wait_for_workers,
    wait_until,
)

REQUESTS = 24


def offline(data: dict[str, Any]) -> None:
    for model in data["models"]:
        model["carriers"] = [{"carrier": "local"}]


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def multiproc_dirs(pid: int) -> set[str]:
    """PROMETHEUS_MULTIPROC_DIR as the worker processes of ``pid`` received it."""
    dirs = set()
    for child in children(pid):
        for item in Path(f"/proc/{child}/environ").read_bytes().split(b"\0"):
            name, _, value = item.decode(errors="replace").partition("=")
            if name == "PROMETHEUS_MULTIPROC_DIR":
                dirs.add(value)
    return dirs


def generate(url: str) -> int:
    with httpx.Client(timeout=30) as client:  # a connection of its own: any worker may take it
        body = {"prompt": "a fox", "size": "1024x1024"}
        return client.post(f"{url}/v1/images/generations", json=body).status_code


def requests_total(url: str) -> tuple[float, float]:
    with httpx.Client(timeout=10) as client:
        text = client.get(f"{url}/metrics").text
    samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
    total = sum(s.value for s in samples if s.name == "imagegate_requests_total")
    images = sum(s.value for s in samples if s.name == "imagegate_images_total")
    return total, images


def stale_directory(path: Path) -> Path:
    """A multiprocess directory a previous run left, holding 1000 requests."""
    path.mkdir()
    code = "from prometheus_client import Counter; Counter('imagegate_requests', 'x').inc(1000)"
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(path)}
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    assert os.listdir(path)
    return path


def test_counts_are_summed_across_two_workers(
    gateway_factory: Callable[..., RunningGateway], tmp_path: Path
) -> None:
    stale = stale_directory(tmp_path / "stale")  # in the operator's shell: never read
    env = {"PROMETHEUS_MULTIPROC_DIR": str(stale)}
    gateway = gateway_factory(offline, "--workers", "2", env=env)
    wait_for_workers(gateway, 2)
    [directory] = multiproc_dirs(gateway.process.pid)
    assert os.path.isdir(directory) and "imagegate-metrics-" in directory
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(generate, [gateway.url] * REQUESTS))
    assert statuses == [200] * REQUESTS
    pids = {name.rpartition("_")[2] for name in os.listdir(directory) if name.startswith("counter")}
    assert len(pids) == 2, pids  # both workers served requests (and wrote their counters)
    for _ in range(8):  # each on a new connection, so both workers answer some scrapes
        assert requests_total(gateway.url) == (REQUESTS, REQUESTS)
    stop_gateway(gateway)
    assert not os.path.exists(directory)


def test_metrics_on_their_own_port_are_the_same_set_behind_the_token(
    gateway_factory: Callable[..., RunningGateway],
) -> None:
    side = free_port()

    def edit(data: dict[str, Any]) -> None:
        offline(data)
        data["metrics"] = {"port": side, "token": "scrape-secret"}

    gateway = gateway_factory(edit, "--workers", "2")
    wait_for_workers(gateway, 2)
    assert generate(gateway.url) == 200
    assert httpx.get(f"{gateway.url}/metrics").status_code == 404  # moved
    forged = {"authorization": "Bearer scrape-secret"}  # the main port takes only the relay
    assert httpx.get(f"{gateway.url}/metrics", headers=forged).status_code == 404
    url = f"http://127.0.0.1:{side}/metrics"
    refused = httpx.get(url)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
    assert httpx.get(url, headers={"authorization": "Bearer nope"}).status_code == 401
    answer = httpx.get(url, headers=forged)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    names = {f.name for f in text_string_to_metric_families(answer.text)}
    scrape_time = {
        "imagegate_carrier_circuit_state",
        "imagegate_async_jobs",
        "imagegate_requests_in_flight",
    }
    assert scrape_time | {"imagegate_requests", "imagegate_images"} <= names, names
    samples = [s for f in text_string_to_metric_families(answer.text) for s in f.samples]
    assert sum(s.value for s in samples if s.name == "imagegate_requests_total") == 1
    assert httpx.get(f"http://127.0.0.1:{side}/other", headers=forged).status_code == 404
    stop_gateway(gateway)


def test_a_teams_budget_left_is_one_value_across_two_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each worker writes the team's budget left as read back after its own ledger commit;
    whichever worker answers the scrape, the most recent write is the one value shown (not a
    sum over workers, which would double it)."""
    data = base_config(tmp_path)
    for model in data["models"]:
        model["carriers"] = [{"carrier": "local"}]  # dall-e-3 keeps its 0.04 USD an image
    data["metrics"] = {"label_keys": True}
    path = write_config(tmp_path, data)
    monkeypatch.setenv("IMAGEGATE_CONFIG", str(path))
    assert main(["teams", "create", "design", "--budget", "1"]) == 0
    capsys.readouterr()
    assert main(["keys", "create", "--name", "alice", "--team", "design", "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    secret, team = created["key"], created["team"]["id"]
    gateway = start_gateway(path, tmp_path / "gateway.log", "--workers", "2")
    try:
        wait_for_workers(gateway, 2)
        body = {"model": "dall-e-3", "prompt": "a fox", "quality": "standard"}
        for _ in range(12):  # a new connection each: both workers take some
            with httpx.Client(timeout=30) as client:
                answer = client.post(
                    f"{gateway.url}/v1/images/generations",
                    json=body,
                    headers={"authorization": f"Bearer {secret}"},
                )
                assert answer.status_code == 200, answer.text
        [directory] = multiproc_dirs(gateway.process.pid)

        def writers() -> set[str]:
            return {n for n in os.listdir(directory) if n.startswith("gauge_mostrecent")}

        # each worker's ledger flushes within its interval: wait for both, however slow
        wait_until(lambda: len(writers()) == 2, what="both workers charged the team")

        def remaining() -> list[float]:
            text = httpx.get(f"{gateway.url}/metrics", timeout=10).text
            return [
                s.value
                for f in text_string_to_metric_families(text)
                for s in f.samples
                if s.name == "imagegate_budget_remaining_usd" and s.labels["team"] == team
            ]

        left = [pytest.approx(1 - 12 * 0.04)]
        wait_until(lambda: remaining() == left, what="every charge flushed")
        for _ in range(6):  # each on a new connection: both workers answer some scrapes
            assert remaining() == left
    finally:
        stop_gateway(gateway)
