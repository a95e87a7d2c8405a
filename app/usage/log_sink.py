"""The usage sink that writes one log line per request."""

from __future__ import annotations

import logging

from app.core.pricing import usd
from app.domain import UsageRecord

log = logging.getLogger("imagegate.usage")


class LogSink:
    """One ``usage ...`` line per request; the record itself rides along as ``extra["usage"]``
    for structured (JSON) log handlers."""

    def write(self, record: UsageRecord) -> None:
        log.info(
            "usage request=%s principal=%s model=%s carrier=%s outcome=%s error=%s attempts=%s "
            "images=%d bytes=%d cost=%s latency=%.3fs stream=%s async=%s replay=%s "
            "client_gone=%s",
            record.request_id,
            record.principal_id,
            record.model,
            record.carrier or "-",
            record.outcome,
            record.error_code or "-",
            ",".join(record.attempts) or "-",
            record.images,
            record.output_bytes,
            "-" if record.cost_nanos is None else usd(record.cost_nanos),
            record.latency,
            _flag(record.stream),
            _flag(record.async_job),
            _flag(record.replay),
            _flag(record.client_gone),
            extra={"usage": record},
        )


def _flag(value: bool) -> str:
    return "true" if value else "false"
