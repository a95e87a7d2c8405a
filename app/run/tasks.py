"""Tracked background tasks: work that must finish even if the client that asked leaves.

Every task is held by a strong reference until it ends (no garbage-collected tasks), failures
are logged, and shutdown waits for them, so nothing already paid for is dropped mid-way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class TaskRegistry:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, work: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._forget)
        return task

    def _forget(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)

    def __len__(self) -> int:
        return len(self._tasks)

    async def drain(self, grace: float) -> None:
        """Wait up to ``grace`` seconds for running work, then cancel what is left."""
        if not self._tasks:
            return
        log.info("waiting for %d in-flight request(s) to finish", len(self._tasks))
        _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            log.warning("cancelled %d request(s) still running at shutdown", len(pending))
            await asyncio.wait(pending, timeout=5)
