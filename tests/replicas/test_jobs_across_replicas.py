"""Async jobs across replicas (issue 13 §3), with real ``imagegate serve`` processes on one
PostgreSQL database: any replica answers a job's status; a job whose replica is SIGKILLed
mid-job ends (failed, ``job_interrupted``) within about one lease, never stuck in ``running``;
a process starting up (even one that then fails to bind its port) never touches the jobs of a
live replica."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.replicas.conftest import AUTH, GENERATIONS, Start, held_images
from tests.support.config import base_config, write_config
from tests.support.gateway import RunningGateway
from tests.support.upstream import FakeUpstream

LEASE = 2.0  # seconds: the heartbeat runs every LEASE/3
ASYNC = {**AUTH, "prefer": "respond-async"}
JOBS = {"lease": LEASE}


def submit(gateway: RunningGateway) -> str:
    response = httpx.post(f"{gateway.url}{GENERATIONS}", json={"prompt": "x"}, headers=ASYNC)
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id


def status(gateway: RunningGateway, job_id: str) -> dict[str, Any]:
    response = httpx.get(f"{gateway.url}/v1/images/jobs/{job_id}", headers=AUTH, timeout=5)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_for(gateway: RunningGateway, job_id: str, until: set[str], timeout: float) -> float:
    """Poll until the job reaches one of ``until``; the seconds it took."""
    start = time.monotonic()
    while (body := status(gateway, job_id))["status"] not in until:
        assert time.monotonic() - start < timeout, f"still {body['status']} after {timeout} s"
        time.sleep(0.05)
    return time.monotonic() - start


def test_a_job_made_on_one_replica_is_followed_on_another(
    replicas: Start, postgres_url: str, upstream: FakeUpstream
) -> None:
    gate = held_images(upstream)
    first, second = (replicas(postgres_url, jobs=JOBS) for _ in range(2))
    job_id = submit(first)
    assert gate.reached.wait(10)
    assert status(second, job_id)["status"] == "running"
    time.sleep(LEASE * 1.5)  # longer than a lease: the owner's heartbeat keeps it alive
    seen = status(second, job_id)
    assert seen["status"] == "running", seen
    gate.open()
    wait_for(second, job_id, {"succeeded", "failed"}, timeout=10)
    done = status(second, job_id)
    assert done["status"] == "succeeded" and len(done["result"]["data"]) == 1
    assert len(upstream.requests) == 1


def test_a_job_whose_replica_is_killed_ends_within_the_lease(
    replicas: Start, postgres_url: str, upstream: FakeUpstream
) -> None:
    gate = held_images(upstream)
    doomed, survivor = (replicas(postgres_url, jobs=JOBS) for _ in range(2))
    job_id = submit(doomed)
    assert gate.reached.wait(10)
    doomed.process.send_signal(signal.SIGKILL)
    doomed.process.wait(timeout=10)
    assert status(survivor, job_id)["status"] == "running"  # the lease still runs
    took = wait_for(survivor, job_id, {"succeeded", "failed"}, timeout=LEASE * 4)
    body = status(survivor, job_id)
    assert body["status"] == "failed" and body["error"]["code"] == "job_interrupted"
    assert took <= LEASE + LEASE / 3 + 3  # the lease, one reaper period, slack for a slow CI
    gate.open()


def test_a_process_starting_up_never_touches_a_live_replicas_jobs(
    replicas: Start, postgres_url: str, upstream: FakeUpstream, tmp_path: Path
) -> None:
    """Issue 13: a second process opening the database used to mark every running job failed,
    even one that then failed to bind its port. Here one starts on the running replica's port
    (and exits) and another starts properly (its start-up and reaper run); the job still
    succeeds."""
    gate = held_images(upstream)
    live = replicas(postgres_url, jobs=JOBS)
    job_id = submit(live)
    assert gate.reached.wait(10)
    data = base_config(tmp_path)
    data |= {"database": {"url": postgres_url}, "auth": {"keys": ["gk-other"]}, "jobs": JOBS}
    path = write_config(tmp_path, data, name="port-taken.yaml")
    port = live.url.rsplit(":", 1)[1]
    taken = subprocess.run(
        [sys.executable, "-m", "app", "serve", "--config", str(path), "--port", port],
        capture_output=True,
        timeout=60,
        check=False,
    )
    said = (taken.stdout + taken.stderr).decode(errors="replace")
    assert taken.returncode != 0, said
    assert "already in use" in said, said
    late = replicas(postgres_url, jobs=JOBS)
    time.sleep(LEASE)  # the newcomer's reaper has run at least once
    seen = status(late, job_id)
    assert seen["status"] == "running", seen
    gate.open()
    wait_for(late, job_id, {"succeeded", "failed"}, timeout=10)
    assert status(live, job_id)["status"] == "succeeded"
