"""Stopping without dropping anyone: when the process is asked to stop (SIGTERM), requests still
waiting for their answer after ``server.request_grace`` seconds get the error envelope (503
``shutting_down``, retryable) instead of a cut connection. Their work is not cancelled: it is
a tracked task, so it goes on during the drain (``server.shutdown_grace``), stores its image
and settles its Idempotency-Key, where a retry finds it.

The server (uvicorn) owns the signals; :func:`stop_signals` only chains a hook in front of its
handlers while the app runs, and puts them back afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, TypeVar

from app.errors import ShuttingDown

log = logging.getLogger(__name__)
T = TypeVar("T")
_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _shutting_down() -> ShuttingDown:
    return ShuttingDown(
        "The gateway is restarting; this request's image is still being finished. Retry with "
        "the same Idempotency-Key to get it.",
        retry_after=5,
    )


class Stopping:
    """The grace period of a stopping process, and the requests waiting inside it."""

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self.over = False
        self._timer: asyncio.TimerHandle | None = None
        self._waiters: set[asyncio.Future[None]] = set()
        self._queues: set[asyncio.Queue[Any]] = set()

    def begin(self) -> None:
        """The process was asked to stop: start the grace period (once)."""
        if self._timer is None and not self.over:
            log.info("stopping: requests still running in %g s get 503 shutting_down", self.grace)
            self._timer = asyncio.get_running_loop().call_later(self.grace, self.end)

    def end(self) -> None:
        """The grace period is over: every waiting request gets :class:`ShuttingDown`."""
        self.over = True
        waiting = [w for w in self._waiters if not w.done()] + list(self._queues)
        if waiting:
            log.warning("grace period over: %d request(s) answered 503 shutting_down", len(waiting))
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(_shutting_down())
        for queue in self._queues:
            queue.put_nowait(_shutting_down())

    async def result(self, task: asyncio.Task[T]) -> T:
        """``task``'s result, unless the grace period ends first. Like ``asyncio.shield``,
        a caller that is cancelled (its client left) leaves the task running."""
        if self.over:
            raise _shutting_down()
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def relay(_: asyncio.Task[T]) -> None:
            if not waiter.done():
                waiter.set_result(None)

        task.add_done_callback(relay)
        self._waiters.add(waiter)
        try:
            await waiter
        finally:
            self._waiters.discard(waiter)
            task.remove_done_callback(relay)
        return task.result()

    def watch(self, queue: asyncio.Queue[Any]) -> None:
        """A stream's queue: at the end of the grace period it receives :class:`ShuttingDown`."""
        if self.over:
            queue.put_nowait(_shutting_down())
        else:
            self._queues.add(queue)

    def unwatch(self, queue: asyncio.Queue[Any]) -> None:
        self._queues.discard(queue)


@contextmanager
def stop_signals(begin: Callable[[], None]) -> Iterator[None]:
    """Call ``begin`` on this event loop when SIGTERM or SIGINT arrives, then hand the signal
    to the handler the server installed. Only chains where the server has a handler."""
    loop = asyncio.get_running_loop()
    previous = {sig: signal.getsignal(sig) for sig in _SIGNALS}

    def handler(signum: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(begin)
        prior = previous[signal.Signals(signum)]
        if callable(prior):
            prior(signum, frame)

    chained = [sig for sig, prior in previous.items() if callable(prior)]
    for sig in chained:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig in chained:
            if signal.getsignal(sig) is handler:
                signal.signal(sig, previous[sig])
