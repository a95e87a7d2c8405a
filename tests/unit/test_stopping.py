"""The grace period of a stopping gateway: waiting callers get ShuttingDown when it ends, the
work itself is never cancelled, and a caller that leaves early leaves the work running."""

from __future__ import annotations

import asyncio

import pytest

from app.errors import ShuttingDown
from app.run.shutdown import Stopping


async def test_a_caller_still_waiting_at_the_end_gets_503_and_the_work_goes_on() -> None:
    stopping = Stopping(grace=0.05)
    release = asyncio.Event()

    async def work() -> str:
        await release.wait()
        return "image"

    task = asyncio.ensure_future(work())
    stopping.begin()
    with pytest.raises(ShuttingDown) as caught:
        await stopping.result(task)
    assert (caught.value.status, caught.value.code) == (503, "shutting_down")
    assert caught.value.retry_after is not None
    assert not task.done()
    release.set()
    assert await task == "image"
    with pytest.raises(ShuttingDown):  # after the end, nobody waits any more
        await stopping.result(asyncio.ensure_future(work()))


async def test_work_that_finishes_within_the_grace_period_is_answered() -> None:
    stopping = Stopping(grace=10)
    stopping.begin()
    assert await stopping.result(asyncio.ensure_future(asyncio.sleep(0.01, "done"))) == "done"


async def test_a_caller_that_leaves_does_not_cancel_the_work() -> None:
    stopping = Stopping(grace=10)
    task = asyncio.ensure_future(asyncio.sleep(0.05, "kept"))
    waiting = asyncio.ensure_future(stopping.result(task))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert await task == "kept"


async def test_a_watched_stream_queue_receives_the_error_at_the_end() -> None:
    stopping = Stopping(grace=0.01)
    watched: asyncio.Queue[object] = asyncio.Queue()
    finished: asyncio.Queue[object] = asyncio.Queue()
    stopping.watch(watched)
    stopping.watch(finished)
    stopping.unwatch(finished)  # its producer ended
    stopping.begin()
    assert isinstance(await asyncio.wait_for(watched.get(), 1), ShuttingDown)
    assert finished.empty()
