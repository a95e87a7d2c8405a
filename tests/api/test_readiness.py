"""``GET /readyz``: each part's state; 503 naming the part that is down (storage, database)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from app.db.engine import create_engine
from app.observability.readiness import Check, database_check, run_checks
from tests.support.app import serve_in_process
from tests.support.config import MakeConfig
from tests.support.gateway import free_port


async def test_ready_then_503_naming_the_storage(make_config: MakeConfig) -> None:
    config = make_config()
    async with serve_in_process(config) as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {
            "status": "ready",
            "failing": [],
            "checks": {"database": "ok", "jobs": "ok", "storage": "ok"},
        }
        shutil.rmtree(config.storage.directory)
        down = await client.get("/readyz")
        assert (await client.get("/healthz")).status_code == 200  # alive, just not ready
    assert down.status_code == 503
    body = down.json()
    assert body["status"] == "unready" and body["failing"] == ["storage"]
    assert body["checks"]["jobs"] == "ok" and body["checks"]["storage"].startswith("failed")


async def test_a_database_that_is_down_is_named_without_its_url(tmp_path: Path) -> None:
    up = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'up.sqlite3'}")
    down = create_engine(f"postgresql+asyncpg://u:pw-canary@127.0.0.1:{free_port()}/imagegate")
    try:
        ok = await run_checks([database_check(up)])
        failed = await run_checks([database_check(down)])
    finally:
        await up.dispose()
        await down.dispose()
    assert ok.ready and ok.parts == {"database": "ok"}
    assert not failed.ready and failed.failing == ["database"]
    assert failed.parts["database"].startswith("failed (") and "pw-canary" not in str(failed)


@pytest.mark.parametrize("slow", [True, False])
async def test_a_check_that_hangs_is_not_ready(slow: bool) -> None:
    async def probe() -> None:
        if slow:
            await asyncio.sleep(5)

    readiness = await run_checks([Check("redis", probe)], deadline=0.05)
    assert readiness.ready is not slow
    assert readiness.parts["redis"] == ("no answer within 0.05 s" if slow else "ok")
