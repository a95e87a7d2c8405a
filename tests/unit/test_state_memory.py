"""The in-process state: idempotency answers and windowed counters, on injected clocks."""

from __future__ import annotations

import asyncio

import pytest

from app.config.runtime import IdempotencyConfig
from app.domain import Generation, StoredImage, StoredRef
from app.errors import Conflict
from app.run.tasks import TaskRegistry
from app.state.counters import MemoryCounters
from app.state.idempotency import MemoryIdempotencyStore


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def answer(b64: str | None = "aGk=", image_id: str | None = "img_1") -> Generation:
    ref = StoredRef(image_id, "png", 2) if image_id is not None else None
    image = StoredImage("png", 2, ref=ref, b64=b64)
    return Generation("generate", "m", "b64_json", "up", (image,), created=1)


def store(ttl: float = 60, max_entries: int = 10) -> tuple[MemoryIdempotencyStore, Clock]:
    clock = Clock()
    config = IdempotencyConfig(ttl=ttl, max_entries=max_entries)
    return MemoryIdempotencyStore(config, clock), clock


async def test_the_first_request_owns_the_key_and_repeats_get_its_answer() -> None:
    keys, _ = store()
    assert await keys.begin("k", "fp") is None
    await keys.finish("k", answer())
    again = await keys.begin("k", "fp")
    assert again is not None and again.carrier == "up"


async def test_stored_images_are_kept_as_references_without_their_base64() -> None:
    keys, _ = store()
    await keys.begin("stored", "fp")
    await keys.finish("stored", answer())
    await keys.begin("ephemeral", "fp")
    await keys.finish("ephemeral", answer(image_id=None))
    stored, ephemeral = await keys.begin("stored", "fp"), await keys.begin("ephemeral", "fp")
    assert stored is not None and stored.images[0].b64 is None
    assert ephemeral is not None and ephemeral.images[0].b64 == "aGk="  # nowhere else to live


async def test_a_different_request_under_the_same_key_is_a_conflict() -> None:
    keys, _ = store()
    await keys.begin("k", "fp")
    with pytest.raises(Conflict):
        await keys.begin("k", "other")


async def test_repeats_wait_for_the_running_request() -> None:
    keys, _ = store()
    await keys.begin("k", "fp")
    waiter = TaskRegistry().spawn(keys.begin("k", "fp"), name="waiter")
    await asyncio.sleep(0.01)
    assert not waiter.done()
    await keys.finish("k", answer())
    result = await asyncio.wait_for(waiter, 10)
    assert result is not None and result.images[0].id == "img_1"


async def test_after_a_failure_a_waiting_repeat_runs_it_again() -> None:
    keys, _ = store()
    await keys.begin("k", "fp")
    waiter = TaskRegistry().spawn(keys.begin("k", "fp"), name="waiter")
    await asyncio.sleep(0.01)
    await keys.abandon("k")
    assert await asyncio.wait_for(waiter, 10) is None  # it owns the key now


async def test_answers_expire_on_the_stores_clock() -> None:
    keys, clock = store(ttl=60)
    await keys.begin("k", "fp")
    await keys.finish("k", answer())
    clock.now += 61
    assert await keys.begin("k", "other") is None  # expired: free for anything


async def test_the_oldest_answers_go_first_when_full() -> None:
    keys, _ = store(max_entries=2)
    for key in ("a", "b", "c"):
        await keys.begin(key, "fp")
        await keys.finish(key, answer())
    assert await keys.begin("a", "fp") is None
    assert await keys.begin("c", "fp") is not None


async def test_counters_count_within_a_window_and_start_over_after_it() -> None:
    clock = Clock()
    counters = MemoryCounters(clock)
    assert await counters.add("key_1", 1, window=60) == 1
    assert await counters.add("key_1", 2, window=60) == 3
    assert await counters.add("key_2", 1, window=60) == 1
    clock.now += 60
    assert await counters.add("key_1", 1, window=60) == 1
