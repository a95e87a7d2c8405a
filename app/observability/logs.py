"""Logging: one line per event, tagged with the request id. Never image bytes, never keys."""

from __future__ import annotations

import logging
from contextvars import ContextVar

# The current request's id, for log lines and the record stage (set by the middleware).
request_id_var: ContextVar[str] = ContextVar("request_id", default="-")


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def configure_logging(level: str, formatter: logging.Formatter | None = None) -> None:
    """Root logging: text lines for a terminal unless ``formatter`` says otherwise (JSON)."""
    handler = logging.StreamHandler()
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(
        formatter
        or logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs every request URL at INFO; ours are enough. At debug level they are useful.
    logging.getLogger("httpx").setLevel(logging.DEBUG if level == "debug" else logging.WARNING)
