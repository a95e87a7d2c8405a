"""The record stage: every request's :class:`UsageRecord` goes to every sink.

A sink is anything with ``write(record)``: the log line today; the ledger, metrics and budget
settlement later, each added with one line in ``app.wiring``. ``write`` is called on the event
loop and must not block: a sink that does I/O buffers the record and writes it elsewhere. A sink
that raises is logged and skipped; it never fails or delays the request, nor the other sinks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Protocol

from app.domain import UsageRecord

log = logging.getLogger(__name__)


class Sink(Protocol):
    def write(self, record: UsageRecord) -> None: ...


class Recorder:
    def __init__(self, sinks: Iterable[Sink]) -> None:
        self._sinks = tuple(sinks)

    def record(self, record: UsageRecord) -> None:
        for sink in self._sinks:
            try:
                sink.write(record)
            except Exception:
                log.exception("usage sink %s failed", type(sink).__name__)
