"""Checks ``serve`` makes before it starts: a data directory the process cannot write is one
clear line naming the path and the user, not a traceback from inside a worker."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from app.config import GatewayConfig
from app.storage import local_directories


def data_directories(config: GatewayConfig) -> list[Path]:
    """Where the gateway writes: the local image store and the async-jobs database."""
    return [*local_directories(config.storage), Path(config.jobs.database).parent]


def unwritable(directory: Path) -> str | None:
    """Why this process cannot create files in ``directory`` (creating it if needed), or None."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        where, who = directory.resolve(), f"uid {os.getuid()}, gid {os.getgid()}"
        if directory.exists() and not directory.is_dir():
            return (
                f"cannot write to {where} as {who}: it is a file, not a directory; move it "
                "away, or point the config elsewhere"
            )
        reason = exc.strerror or type(exc).__name__
        return (
            f"cannot write to {where} ({reason}) as {who}: make it writable for that user "
            f"(e.g. chown -R {os.getuid()}:{os.getgid()} on the host folder or volume), or "
            "point the config elsewhere"
        )
    return None


def first_problem(config: GatewayConfig) -> str | None:
    for directory in data_directories(config):
        problem = unwritable(directory)
        if problem is not None:
            return problem
    return None
