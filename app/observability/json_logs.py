"""JSON logs: one object per line (``IMAGEGATE_LOG_FORMAT=json`` or ``logging.format: json``).

Every line has the time, level, logger, request id and message; the usage line adds its
record's fields (key name, model, carrier, attempts, outcome, latency, images, cost...). The
record carries no prompt, image bytes or base64, and nothing else is added here: a line holds
what the text line holds, in fields.

Two lines per request (access and usage) pass through here, so the formatter avoids per-line
work that can be done once: the time's date and clock part is made once per second, and the
usage fields are read in one ``attrgetter`` call.
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

import orjson

# The usage record's fields a line carries, under the names operators search for.
USAGE_FIELDS = (
    ("principal_name", "key"),
    ("team", "team"),
    ("model", "model"),
    ("operation", "operation"),
    ("carrier", "carrier"),
    ("attempts", "attempts"),
    ("outcome", "outcome"),
    ("error_code", "error"),
    ("latency", "latency_s"),
    ("images", "images"),
    ("pixels", "pixels"),
    ("output_bytes", "bytes"),
    ("size", "size"),
    ("quality", "quality"),
    ("adjustments", "adjustments"),
    ("stream", "stream"),
    ("async_job", "async_job"),
    ("replay", "replay"),
    ("client_gone", "client_gone"),
)
_USAGE_VALUES = attrgetter(*(attribute for attribute, _ in USAGE_FIELDS))
_USAGE_NAMES = tuple(name for _, name in USAGE_FIELDS)
_MILLIS = tuple(f".{ms:03d}+00:00" for ms in range(1000))  # a time's tail, by milliseconds


class IsoTime:
    """``datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")``, with the part
    before the milliseconds made once per second (log lines come many to a second)."""

    def __init__(self) -> None:
        self._second = math.nan
        self._head = ""

    def __call__(self, created: float) -> str:
        # As datetime does it: the fraction rounded half-even to microseconds, carried into
        # the seconds when it rounds up to a whole one; then the milliseconds truncated.
        fraction, second = math.modf(created)
        micros = round(fraction * 1e6)
        if micros >= 1_000_000:
            second, micros = second + 1, micros - 1_000_000
        elif micros < 0:  # before 1970: datetime's own path, rare enough
            return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
        if second != self._second:
            moment = datetime.fromtimestamp(second, UTC).isoformat(timespec="seconds")
            self._second, self._head = second, moment[:-6]  # without "+00:00"
        return self._head + _MILLIS[micros // 1000]


class JsonFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self._time = IsoTime()

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self._time(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        usage = record.__dict__.get("usage")
        if usage is not None:
            _add_usage(line, usage)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line).decode()


def _add_usage(line: dict[str, Any], usage: Any) -> None:
    try:
        values = _USAGE_VALUES(usage)
    except AttributeError:  # not a UsageRecord: the fields it has
        values = tuple(getattr(usage, attribute, None) for attribute, _ in USAGE_FIELDS)
    for name, value in zip(_USAGE_NAMES, values, strict=True):
        if value is not None and value != ():
            line[name] = value
    cost_nanos = getattr(usage, "cost_nanos", None)
    if cost_nanos is not None:  # exact in the ledger; a number for a log reader
        line["cost_usd"] = cost_nanos / 1e9


def formatter(format: str) -> logging.Formatter | None:
    """The formatter for a ``logging.format`` value; None: the default text lines."""
    return JsonFormatter() if format == "json" else None
