"""Incremental server-sent-events decoder for upstream streams.

Events can carry several MB of base64 on one ``data:`` line, so the decoder never rescans
what it has already looked at and compacts its buffer once per chunk: linear in the bytes
received, with memory bounded by ``max_event_bytes``.
"""

from __future__ import annotations

from dataclasses import dataclass


class EventTooLarge(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class SSEEvent:
    event: str | None
    data: bytes


class SSEDecoder:
    def __init__(self, max_event_bytes: int = 64 * 1024 * 1024) -> None:
        self._max = max_event_bytes
        self._buffer = bytearray()
        self._scanned = 0  # bytes of the buffer already searched for a newline
        self._event: str | None = None
        self._data: list[bytes] = []
        self._size = 0

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Events completed by ``chunk`` (a blank line ends an event)."""
        self._buffer += chunk
        events: list[SSEEvent] = []
        start = 0
        while True:
            newline = self._buffer.find(b"\n", max(start, self._scanned))
            if newline < 0:
                break
            end = newline - 1 if newline > start and self._buffer[newline - 1] == 13 else newline
            event = self._line(bytes(self._buffer[start:end]))
            if event is not None:
                events.append(event)
            start = newline + 1
        del self._buffer[:start]
        self._scanned = len(self._buffer)
        if self._size + len(self._buffer) > self._max:
            raise EventTooLarge(f"an upstream event exceeded {self._max:,} bytes")
        return events

    def _line(self, line: bytes) -> SSEEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(b":"):
            return None  # comment (keep-alive)
        field, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if field == b"data":
            self._data.append(value)
            self._size += len(value)
        elif field == b"event":
            self._event = value.decode("utf-8", "replace")
        return None

    def _dispatch(self) -> SSEEvent | None:
        if not self._data:
            self._event = None
            return None
        data = self._data[0] if len(self._data) == 1 else b"\n".join(self._data)
        event = SSEEvent(self._event, data)
        self._event, self._data, self._size = None, [], 0
        return event
