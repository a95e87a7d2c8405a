"""The usage sink that writes one log line per request."""

from __future__ import annotations

import logging

from app.core.pricing import usd
from app.domain import UsageRecord

log = logging.getLogger("imagegate.usage")
_INFO = logging.INFO


class LogSink:
    """One ``usage ...`` line per request; the record itself rides along as ``extra["usage"]``
    for structured (JSON) log handlers. Only what a request had is written (an error code,
    a cost, the flags that are true), which keeps the line short and cheap on the hot path."""

    def write(self, record: UsageRecord) -> None:
        if not log.isEnabledFor(_INFO):
            return
        line = (
            f"usage request={record.request_id} principal={record.principal_id} "
            f"model={record.model} carrier={record.carrier or '-'} outcome={record.outcome}"
        )
        if record.error_code:
            line += f" error={record.error_code}"
        line += (
            f" attempts={','.join(record.attempts) or '-'} images={record.images} "
            f"bytes={record.output_bytes} latency={record.latency:.3f}s"
        )
        if record.cost_nanos is not None:
            line += f" cost={usd(record.cost_nanos)}"
        if record.stream:
            line += " stream=true"
        if record.async_job:
            line += " async_job=true"
        if record.replay:
            line += " replay=true"
        if record.client_gone:
            line += " client_gone=true"
        log.info(line, extra={"usage": record})
