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

from prometheus_client import CollectorRegistry, multiprocess, values

ENV = "PROMETHEUS_MULTIPROC_DIR"
_made_here: Path | None = None  # the directory, in the serve process that made it


def prepare(workers: int) -> Path | None:
    """With several workers: a fresh, empty directory for this run, handed to the workers
    through the environment (prometheus-client reads it when a worker imports it)."""
    directory = None
    if workers <= 1:
        os.environ.pop(ENV, None)  # one process: plain in-memory values, nothing to share
    else:
        directory = Path(tempfile.mkdtemp(prefix="imagegate-metrics-"))
        os.environ[ENV] = str(directory)
    global _made_here
    _made_here = directory
    # With one worker the app runs in this process, which imported prometheus-client already:
    # its value class is chosen at import, so choose again now that the environment is set.
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
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
    """A worker's end: its live gauges (requests in flight) stop counting. With one worker the
    app ends inside the serve process, which uvicorn then ends by the signal it caught, before
    ``serve`` could clean up: the directory goes now."""
    if active():
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
    cleanup(_made_here)
