"""The usage ledger through the API, on SQLite and PostgreSQL: exactly one ``usage_records`` row
per request (success, failure, stream, async job, replay, a client that left), written within
the flush interval, and one ``images`` row per stored image; and the sink itself riding out a
database that is not there."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import respx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config.runtime import LedgerConfig
from app.db.engine import create_engine
from app.db.migrate import upgrade
from app.db.models import ImageRecord, UsageRecord
from app.domain import Principal, StoredImage, StoredRef
from app.domain import UsageRecord as Record
from app.usage.ledger import LedgerSink
from tests.support.app import serve_in_process
from tests.support.config import UPSTREAM, MakeConfig
from tests.support.images import png_bytes
from tests.support.waiting import HeldAnswer, eventually

GENERATIONS = f"{UPSTREAM}/images/generations"
PNG = png_bytes((16, 12))
USAGE = {"input_tokens": 7, "output_tokens": 70, "total_tokens": 77}
OK = httpx.Response(
    200,
    json={
        "created": 1,
        "size": "1024x1024",
        "usage": USAGE,
        "data": [{"b64_json": base64.b64encode(PNG).decode()}],
    },
)
FAILED = httpx.Response(500, json={"error": {"message": "boom"}})
AUTH = {"authorization": "Bearer gk-1"}
FLUSH = 0.25  # the default ledger.flush_interval
SLACK = 2.0  # a loaded CI machine's scheduling on top of it; a ledger that waits for the
# next request or for shutdown to flush still fails


@pytest.fixture
async def ledger_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


def gateway(database_url: str, **ledger: Any):
    def edit(data: dict) -> None:
        data["database"] = {"url": database_url}
        data["auth"] = {"keys": ["gk-1"]}
        data["streaming"] = {"keepalive_interval": 0.05, "first_event_wait": 0.05}
        data["routing"]["cooldown"] = {"failures": 100, "window": 60, "duration": 1}
        if ledger:
            data["ledger"] = ledger

    return edit


async def rows(engine: AsyncEngine, table: Any) -> list[Any]:
    async with engine.connect() as connection:
        return list((await connection.execute(select(table).order_by(table.created_at))).all())


async def until_rows(engine: AsyncEngine, count: int, since: float) -> list[Any]:
    """The usage rows once ``count`` are there, checking they came within the flush interval
    of ``since`` (when the answer arrived), and that no extra row follows."""
    while len(found := await rows(engine, UsageRecord)) < count:
        assert time.monotonic() - since < FLUSH + SLACK, f"only {len(found)} row(s) written"
        await asyncio.sleep(0.01)
    await asyncio.sleep(FLUSH + 0.05)
    found = await rows(engine, UsageRecord)
    assert len(found) == count, found
    return found


async def finished(client: httpx.AsyncClient, job_id: str) -> None:
    for _ in range(500):
        job = (await client.get(f"/v1/images/jobs/{job_id}", headers=AUTH)).json()
        if job["status"] not in ("queued", "running"):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"job {job_id} never finished")


@pytest.mark.parametrize(
    ("mode", "headers", "body"),
    [
        ("plain", {}, {}),
        ("stream", {}, {"stream": True}),
        ("async", {"prefer": "respond-async"}, {}),
    ],
)
@pytest.mark.parametrize("succeeds", [True, False])
async def test_one_row_per_request_in_every_mode(
    make_config: MakeConfig,
    upstream: respx.MockRouter,
    database_url: str,
    ledger_engine: AsyncEngine,
    mode: str,
    headers: dict,
    body: dict,
    succeeds: bool,
) -> None:
    upstream.post(GENERATIONS).mock(return_value=OK if succeeds else FAILED)
    request = {"prompt": "a red fox", **body}
    async with serve_in_process(make_config(gateway(database_url))) as client:
        response = await client.post(
            "/v1/images/generations",
            json=request,
            headers={**AUTH, **headers, "x-request-id": "led-1"},
        )
        assert response.status_code in (200, 202, 502), response.text
        if mode == "async":  # the row comes when the job ends
            await finished(client, response.json()["id"])
        [row] = await until_rows(ledger_engine, 1, time.monotonic())
    images = await rows(ledger_engine, ImageRecord)
    assert (
        row.request_id == "led-1" and row.key_id.startswith("key_") and row.model == "gpt-image-2"
    )
    assert (row.stream, row.async_job, row.replay, row.client_gone) == (
        mode == "stream",
        mode == "async",
        False,
        False,
    )
    if succeeds:
        assert (row.outcome, row.error_code, row.carrier, row.attempts) == (
            "succeeded",
            None,
            "up",
            1,
        )
        assert (row.images, row.pixels, row.size) == (1, 1024 * 1024, "1024x1024")
        assert row.usage_tokens["output_tokens"] == 70
        # 7 text tokens at $5/M and 70 image tokens at $30/M, exactly, in nano-dollars
        assert row.settled_cost_nanos == 7 * 5_000 + 70 * 30_000
        [image] = images
        assert (image.request_id, image.key_id, image.format, image.width, image.height) == (
            "led-1",
            row.key_id,
            "png",
            16,
            12,
        )
        assert (
            image.bytes == len(PNG) and image.prompt == "a red fox" and image.model == "gpt-image-2"
        )
    else:
        assert (row.outcome, row.error_code, row.carrier, row.images) == (
            "failed",
            "upstream_error",
            None,
            0,
        )
        assert row.settled_cost_nanos is None and images == []
    assert row.latency_ms >= 0


async def test_a_replay_is_a_free_row_that_says_so_and_stores_no_image(
    make_config: MakeConfig,
    upstream: respx.MockRouter,
    database_url: str,
    ledger_engine: AsyncEngine,
) -> None:
    route = upstream.post(GENERATIONS).mock(return_value=OK)
    headers = {**AUTH, "idempotency-key": "k-1"}
    async with serve_in_process(make_config(gateway(database_url))) as client:
        for _ in range(2):
            await client.post("/v1/images/generations", json={"prompt": "x"}, headers=headers)
        first, again = await until_rows(ledger_engine, 2, time.monotonic())
    assert route.call_count == 1
    assert not first.replay and first.settled_cost_nanos > 0
    assert again.replay and again.settled_cost_nanos == 0 and again.attempts == 0
    assert len(await rows(ledger_engine, ImageRecord)) == 1


async def test_a_client_that_left_gets_one_row_when_the_work_ends(
    make_config: MakeConfig,
    upstream: respx.MockRouter,
    database_url: str,
    ledger_engine: AsyncEngine,
) -> None:
    held = HeldAnswer(OK)
    upstream.post(GENERATIONS).mock(side_effect=held)
    async with serve_in_process(make_config(gateway(database_url))) as client:
        await held.leave(client.post("/v1/images/generations", json={"prompt": "x"}, headers=AUTH))
        assert await rows(ledger_engine, UsageRecord) == []  # the work goes on
        held.release.set()
        [row] = await until_rows(ledger_engine, 1, time.monotonic())
    assert row.outcome == "succeeded" and row.client_gone


async def test_prompts_are_not_kept_when_the_config_says_so(
    make_config: MakeConfig,
    upstream: respx.MockRouter,
    database_url: str,
    ledger_engine: AsyncEngine,
) -> None:
    upstream.post(GENERATIONS).mock(return_value=OK)
    config = make_config(gateway(database_url, store_prompts=False))
    async with serve_in_process(config) as client:
        await client.post("/v1/images/generations", json={"prompt": "secret plans"}, headers=AUTH)
        await until_rows(ledger_engine, 1, time.monotonic())
    [image] = await rows(ledger_engine, ImageRecord)
    assert image.prompt is None


def record(request_id: str) -> Record:
    image = StoredImage(
        "png", 10, ref=StoredRef(f"img{request_id:>19}", "png", 10), width=2, height=2
    )
    principal = Principal("key_1", "ci")
    return Record(
        request_id,
        principal.id,
        principal.name,
        "m",
        "generate",
        "succeeded",
        images=1,
        stored=(image,),
        created_at=time.time(),
        cost_nanos=5,
    )


async def test_rows_wait_out_a_database_outage_and_the_request_path_never_does(
    empty_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A database without the tables fails every write, as a down one would."""
    engine = create_engine(empty_database_url)
    sink = LedgerSink(engine, LedgerConfig(flush_interval=0.05))
    sink.start()
    try:
        with caplog.at_level(logging.WARNING, logger="app.usage.ledger"):
            for i in range(3):
                sink.write(record(str(i)))  # a plain call: it only buffers
            assert sink.pending == 3

            def warned() -> bool:
                return any(r.name == "app.usage.ledger" for r in caplog.records)

            await eventually(warned, what="the first failed write")
            failed = sink._failures
            await eventually(lambda: sink._failures > failed, what="a retry that fails again")
        assert sink.pending == 3
        warnings = [r for r in caplog.records if r.name == "app.usage.ledger"]
        assert len(warnings) == 1 and "3 row(s) held" in warnings[0].getMessage()
        await upgrade(empty_database_url)  # the database is back
        await eventually(lambda: sink.pending == 0, what="the held rows written")
        sink.write(record("3"))
    finally:
        await sink.close()  # writes the last row at once
        written = await rows(engine, UsageRecord)
        images = await rows(engine, ImageRecord)
        await engine.dispose()
    assert sorted(r.request_id for r in written) == ["0", "1", "2", "3"]
    assert len(images) == 4 and all(r.settled_cost_nanos == 5 for r in written)


async def test_rows_that_arrive_during_a_write_wait_for_the_next_batch(
    ledger_engine: AsyncEngine,
) -> None:
    """Under steady load, a flush writes what was buffered when it began: it does not chase the
    rows that arrive while it writes, which made a transaction of every few requests."""
    sink = LedgerSink(ledger_engine, LedgerConfig())
    real_write = sink._write
    written: list[int] = []

    async def write_while_requests_arrive(batch: Any) -> None:
        written.append(len(batch.usage))
        if len(written) <= 2:
            sink.write(record(f"late-{len(written)}"))  # a request that ended meanwhile
        await real_write(batch)

    sink._write = write_while_requests_arrive  # type: ignore[method-assign]
    for i in range(3):
        sink.write(record(str(i)))
    assert await sink.flush() is True
    assert written == [3] and sink.pending == 1  # one batch; the late row waits
    assert await sink.flush() is True
    assert written == [3, 1] and sink.pending == 1
    sink._write = real_write  # type: ignore[method-assign]
    await sink.close()
    assert sink.pending == 0
    assert sorted(r.request_id for r in await rows(ledger_engine, UsageRecord)) == [
        "0", "1", "2", "late-1", "late-2",
    ]  # fmt: skip
