"""Without Redis, on one host (issue 13 §2): the worker processes of ``imagegate serve
--workers 2`` share idempotency through the database, SQLite or PostgreSQL. Six concurrent
requests with one Idempotency-Key make exactly one upstream call and all get its image."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.replicas.conftest import AUTH, GENERATIONS, DistinctImages, Start
from tests.support.databases import sqlite_database
from tests.support.upstream import FakeUpstream


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_one_idempotency_key_makes_one_upstream_call_across_workers(
    replicas: Start,
    upstream: FakeUpstream,
    tmp_path: Path,
    kind: str,
    request: pytest.FixtureRequest,
) -> None:
    url = (
        sqlite_database(tmp_path / "shared.sqlite3")
        if kind == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    upstream.route(GENERATIONS, DistinctImages(delay=1.0))
    gateway = replicas(url, "--workers", "2")
    headers = {**AUTH, "idempotency-key": "one-image-please"}

    def post(_: int) -> httpx.Response:
        with httpx.Client(timeout=30) as client:  # a connection of its own: any worker
            return client.post(
                f"{gateway.url}{GENERATIONS}",
                json={"prompt": "x", "response_format": "b64_json"},
                headers=headers,
            )

    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(post, range(6)))
    assert [r.status_code for r in responses] == [200] * 6, [r.text for r in responses]
    assert len(upstream.requests) == 1
    images = {r.json()["data"][0]["b64_json"] for r in responses}
    assert len(images) == 1
    replays = [r.headers.get("x-imagegate-idempotent-replay") for r in responses]
    assert replays.count("true") == 5, replays
