"""The circuit breaker: cooldown after failures, expiry, one half-open probe."""

from __future__ import annotations

import time

import pytest

from app.config.runtime import CooldownConfig
from app.state.circuits import MemoryCircuitBook


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def book(failures: int = 2) -> tuple[MemoryCircuitBook, Clock]:
    clock = Clock()
    return MemoryCircuitBook(
        CooldownConfig(failures=failures, window=10, duration=30), clock
    ), clock


async def test_failures_within_the_window_open_the_circuit() -> None:
    health, clock = book()
    await health.failed("a", "transient", "500")
    assert await health.admit("a")
    await health.failed("a", "timeout", "slow")
    assert not await health.admit("a")
    status = await health.status("a")
    assert status.state == "cooling_down" and status.cooling_for == 30.0
    assert status.recent_failures == {"transient": 1, "timeout": 1}


async def test_old_failures_are_forgotten() -> None:
    health, clock = book()
    await health.failed("a", "transient", "500")
    clock.now += 11
    await health.failed("a", "transient", "500")
    assert await health.admit("a")


async def test_a_carrier_problem_opens_at_once_and_rejections_do_not_count() -> None:
    health, _ = book(failures=5)
    for _ in range(10):
        await health.failed("a", "rejected", "bad prompt")
    assert await health.admit("a")
    await health.failed("a", "carrier", "401")
    assert not await health.admit("a")


async def test_half_open_admits_one_probe_and_success_closes() -> None:
    health, clock = book()
    await health.failed("a", "carrier", "401")
    clock.now += 31
    assert (await health.status("a")).state == "half_open"
    assert await health.admit("a")  # the probe
    assert not await health.admit("a")  # everyone else waits for it
    await health.succeeded("a")
    assert await health.admit("a") and await health.admit("a")
    assert (await health.status("a")).state == "healthy"


async def test_a_failed_probe_reopens() -> None:
    health, clock = book(failures=3)
    await health.failed("a", "carrier", "401")
    clock.now += 31
    assert await health.admit("a")
    await health.failed("a", "transient", "500")
    assert not await health.admit("a")
    assert (await health.status("a")).cooling_for == 30


async def test_a_long_retry_after_forces_a_cooldown() -> None:
    health, clock = book(failures=10)
    await health.failed("a", "rate_limited", "429", cool_for=120)
    assert not await health.admit("a")
    clock.now += 121
    assert await health.admit("a")


async def test_a_wall_clock_stepped_back_keeps_no_carrier_out_of_rotation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    health, monotonic = book(failures=1)
    await health.failed("a", "transient", "500")
    assert not await health.admit("a")
    wall = time.time()
    monkeypatch.setattr(time, "time", lambda: wall - 3600)  # NTP steps the clock back an hour
    monotonic.now += 31  # while the cooldown's own clock moves on
    assert await health.admit("a")


async def test_status_tells_the_seconds_left_not_a_clock_reading() -> None:
    health = MemoryCircuitBook(CooldownConfig(failures=1, window=10, duration=30))
    await health.failed("a", "transient", "500")
    cooling_for = (await health.status("a")).cooling_for
    assert cooling_for is not None and 29 < cooling_for <= 30
