"""prometheus-client's multiprocess mode, set up by the gateway itself for ``--workers N``.

``imagegate serve`` makes a fresh directory for the run before any worker starts
(:func:`prepare`) and removes it when the server stops (:func:`cleanup`); each worker writes its
values there and marks itself dead when it exits (:func:`worker_exit`), so a scrape answered by
any worker sums them all. The operator sets nothing; a directory left by another run is never
read, since every run gets its own.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from prometheus_client import CollectorRegistry, multiprocess

ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare(workers: int) -> Path | None:
    """With several workers: a fresh, empty directory for this run, handed to the workers
    through the environment (prometheus-client reads it when a worker imports it)."""
    if workers <= 1:
        os.environ.pop(ENV, None)  # one process: plain in-memory values, nothing to share
        return None
    directory = Path(tempfile.mkdtemp(prefix="imagegate-metrics-"))
    os.environ[ENV] = str(directory)
    return directory


def cleanup(directory: Path | None) -> None:
    if directory is not None:
        shutil.rmtree(directory, ignore_errors=True)


def active() -> bool:
    return bool(os.environ.get(ENV))


def scrape_registry(own: CollectorRegistry) -> CollectorRegistry:
    """What a scrape reads: this process's registry, or every worker's files summed."""
    if not active():
        return own
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


def worker_exit() -> None:
    """A worker's end: its live gauges (requests in flight) stop counting."""
    if active():
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
