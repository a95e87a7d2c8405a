"""JSON logs: one object per line (``IMAGEGATE_LOG_FORMAT=json`` or ``logging.format: json``).

Every line has the time, level, logger, request id and message; the usage line adds its
record's fields (key name, model, carrier, attempts, outcome, latency, images, cost...). The
record carries no prompt, image bytes or base64, and nothing else is added here: a line holds
what the text line holds, in fields.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
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


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        usage = record.__dict__.get("usage")
        if usage is not None:
            for attribute, name in USAGE_FIELDS:
                value = getattr(usage, attribute, None)
                if value is not None and value != ():
                    line[name] = value
            if usage.cost_nanos is not None:  # exact in the ledger; a number for a log reader
                line["cost_usd"] = usage.cost_nanos / 1e9
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line).decode()


def formatter(format: str) -> logging.Formatter | None:
    """The formatter for a ``logging.format`` value; None: the default text lines."""
    return JsonFormatter() if format == "json" else None
