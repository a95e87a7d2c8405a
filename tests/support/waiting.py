"""Waiting in tests without betting on how fast the machine is.

A fixed ``sleep`` that must outlast work the test does not await (a background record, a job,
a request reaching the upstream) passes on an idle laptop and fails on a loaded CI machine.
Instead, tests either poll for the effect with a generous deadline (``eventually``) or hold the
upstream's answer until the test lets it go (``HeldAnswer``), so the order of events is the
test's, not the scheduler's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

T = TypeVar("T")

GENEROUS = 10.0  # seconds: far beyond any healthy wait, short enough to fail a broken test


async def eventually(
    condition: Callable[[], bool | Awaitable[bool]], within: float = GENEROUS, what: str = ""
) -> None:
    """Poll ``condition`` (sync or async) until it holds, failing after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {what or condition}")
        await asyncio.sleep(0.01)


async def poll_until(
    probe: Callable[[], Awaitable[T]],
    until: Callable[[T], bool],
    within: float = GENEROUS,
    what: str = "",
) -> T:
    """Read ``probe()`` until ``until`` holds for what it returns, and return that; fail after
    ``within`` seconds with the last value read."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if until(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {what} (last: {value!r})")
        await asyncio.sleep(0.01)


class HeldAnswer:
    """A respx side effect that answers only once the test sets ``release``: the request stays
    in flight (holding its slot, hold, claim...) for as long as the test needs. ``reached`` is
    set when a call gets to the upstream; ``calls`` counts them."""

    def __init__(self, answer: httpx.Response | Callable[[httpx.Request], httpx.Response]) -> None:
        self._answer = answer
        self.reached = asyncio.Event()
        self.release = asyncio.Event()
        self.calls = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        self.reached.set()
        await asyncio.wait_for(self.release.wait(), GENEROUS)
        if isinstance(self._answer, httpx.Response):
            return self._answer
        return self._answer(request)

    async def wait_reached(self) -> None:
        await asyncio.wait_for(self.reached.wait(), GENEROUS)

    async def leave(self, request: Awaitable[Any]) -> None:
        """Send ``request`` and give up on it (as a client that leaves) once it is held at the
        upstream; the upstream answer stays held until ``release`` is set."""
        sent = asyncio.ensure_future(request)
        await self.wait_reached()
        sent.cancel()
        try:
            await sent
        except asyncio.CancelledError:
            return
        raise AssertionError("the request finished although its answer was held")
