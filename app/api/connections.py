"""Connections, below HTTP requests: uvicorn's httptools protocol with deadlines and a cap.

``imagegate serve`` runs uvicorn with ``http="app.api.connections:GatewayProtocol"``. uvicorn
alone has no header timeout, arms its keep-alive timer only after a first response, and keeps
an answer buffered for as long as a client that stopped reading stays connected. Per
connection, with the limits of ``server.*`` (each worker reads its own config, through the
lifespan state):

- ``header_timeout``: a new connection, and each later request from its first byte on, must
  complete its headers within this many seconds. An idle new connection is closed; a client
  trickling header bytes (slowloris) gets a 408 in the error envelope, then is closed. One
  timer per connection, re-armed lazily: a request only moves a deadline.
- ``keepalive_timeout``: uvicorn's own timer, closing a connection idle between requests.
- ``send_timeout``: while the write buffer is over its high-water mark, the client must read at
  least 16 KiB of its answer every ``send_timeout`` seconds; if not, the connection is reset,
  which frees what it had buffered (here and in the kernel) and lets its request finish.
- ``max_connections``: a connection over the cap answers its request with a 503 in the error
  envelope (``retry-after``, ``connection: close``) and is closed; one that sends nothing is
  closed after a second, so idle sockets over the cap cannot pile up and exhaust descriptors.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import time
from typing import Any

from uvicorn._types import ASGIReceiveCallable, ASGISendCallable, Scope
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from app.api.exception_handlers import error_response
from app.config.schema import ServerConfig
from app.errors import GatewayError, InvalidRequest, RequestTimeout, TooManyConnections
from app.wiring import Services

log = logging.getLogger(__name__)
_MIN_PROGRESS = 16 * 1024  # bytes a stalled client must read per send_timeout
_DEFAULTS = ServerConfig()
_LINGER_OFF = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() resets
_OVER_CAP_HEADER_TIMEOUT = 1.0  # a flood of idle sockets over the cap is shed this fast


class GatewayProtocol(HttpToolsProtocol):
    """One client connection: uvicorn's parser and request cycles, plus the deadlines and the
    cap described above."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        services = app_state.get("services")
        limits = services.config.server if isinstance(services, Services) else _DEFAULTS
        self.timeout_keep_alive = limits.keepalive_timeout  # type: ignore[assignment]
        self._header_timeout = limits.header_timeout
        self._send_timeout = limits.send_timeout
        self._max_connections = limits.max_connections
        self._header_deadline: float | None = None
        self._header_timer: asyncio.TimerHandle | None = None
        self._in_headers = False
        self._send_timer: asyncio.TimerHandle | None = None
        self._unsent = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self._max_connections:
            self.app = _refuse
            self._header_timeout = min(self._header_timeout, _OVER_CAP_HEADER_TIMEOUT)
            _refusals.note(self._max_connections)
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._header_deadline = None
        for timer in (self._header_timer, self._send_timer):
            if timer is not None:
                timer.cancel()
        self._header_timer = self._send_timer = None

    # --- the header deadline -----------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_headers = True
        if self._header_deadline is None:  # a later request; the first runs from the connection
            self._arm_header_deadline()

    def on_headers_complete(self) -> None:
        self._header_deadline = None
        self._in_headers = False
        super().on_headers_complete()

    def _arm_header_deadline(self) -> None:
        self._header_deadline = self.loop.time() + self._header_timeout
        if self._header_timer is None:
            self._header_timer = self.loop.call_at(self._header_deadline, self._on_header_timer)

    def _on_header_timer(self) -> None:
        """The one timer fires at the oldest deadline; a later one re-arms it."""
        self._header_timer = None
        deadline = self._header_deadline
        if deadline is None:
            return
        if self.loop.time() < deadline:
            self._header_timer = self.loop.call_at(deadline, self._on_header_timer)
            return
        self._header_deadline = None
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined request trickles in while an answer is on its way: finish that one.
            self.cycle.keep_alive = False
            self.flow.pause_reading()
        elif self._in_headers:
            late = RequestTimeout(
                f"The request headers took longer than {self._header_timeout:g} s."
            )
            self._close_with(late)
        else:
            self.transport.close()

    # --- the send deadline --------------------------------------------------------------------

    def pause_writing(self) -> None:
        super().pause_writing()
        self._unsent = self.transport.get_write_buffer_size()
        if self._send_timer is None:
            self._send_timer = self.loop.call_later(self._send_timeout, self._on_send_timer)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None

    def _on_send_timer(self) -> None:
        self._send_timer = None
        unsent = self.transport.get_write_buffer_size()
        if unsent <= self._unsent - _MIN_PROGRESS:
            self._unsent = unsent
            self._send_timer = self.loop.call_later(self._send_timeout, self._on_send_timer)
            return
        log.info(
            "closed the connection from %s: it read almost nothing of its answer in %g s "
            "(%d bytes waiting)",
            _peer(self.client),
            self._send_timeout,
            unsent,
        )
        _reset(self.transport)

    # --- answers written below the app ----------------------------------------------------------

    def send_400_response(self, msg: str) -> None:
        self._close_with(InvalidRequest(msg, code="invalid_http_request"))

    def _close_with(self, error: GatewayError) -> None:
        self.transport.write(raw_response(error))
        self.transport.close()


def _reset(transport: asyncio.Transport) -> None:
    """Close with a reset: the kernel drops what it still holds for the peer at once (a plain
    close would queue a FIN behind data the peer never reads, and keep both)."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_OFF)
    transport.abort()


def raw_response(error: GatewayError) -> bytes:
    """``error``'s response (the envelope, from ``error_response``) as bytes on the wire."""
    response = error_response(error)
    head = [f"HTTP/1.1 {error.status} {_REASONS.get(error.status, '')}\r\n".encode()]
    head += [name + b": " + value + b"\r\n" for name, value in response.raw_headers]
    return b"".join([*head, b"connection: close\r\n\r\n", response.body])


async def _refuse(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    """The app of a connection over ``server.max_connections``."""
    busy = TooManyConnections(
        "This gateway has too many open connections; retry shortly.", retry_after=1
    )
    response = error_response(busy)
    response.headers["connection"] = "close"
    await response(scope, receive, send)  # type: ignore[arg-type]


class _RefusalLog:
    """One warning at the first refusal, then at most one a minute, with how many there were."""

    def __init__(self) -> None:
        self.count = 0
        self.next_at = 0.0

    def note(self, cap: int) -> None:
        self.count += 1
        now = time.monotonic()
        if now >= self.next_at:
            log.warning(
                "refused %d connection(s) over server.max_connections (%d) with 503",
                self.count,
                cap,
            )
            self.count, self.next_at = 0, now + 60


_refusals = _RefusalLog()
_REASONS = {400: "Bad Request", 408: "Request Timeout"}


def _peer(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "?"
