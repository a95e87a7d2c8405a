"""A closed-loop HTTP/1.1 load generator on raw asyncio + httptools, with keep-alive connections.

``concurrency`` workers each own one connection and send the same prepared request bytes again
and again, waiting for each answer. Starts are spread over the first half of the warm-up so
that, with a slow upstream, completions do not arrive in lock-step batches. Only requests that
complete inside the measurement window count; every loop is bounded in time and every request
has a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import cast

import httptools

# A check looks at the status and the first bytes of a body; it returns a problem or None.
Check = Callable[[int, bytes], str | None]
HEAD_BYTES = 256


class ResponseProtocol(asyncio.Protocol):
    """One keep-alive client connection; one request in flight at a time."""

    def __init__(self, keep_body: bool = False) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[tuple[int, bytes, int]] | None = None
        self._keep_body = keep_body
        self._head = b""
        self._body: list[bytes] = []
        self._size = 0
        self.closed = False
        self.keep_alive = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError("connection closed by the server"))

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if self._waiter is not None and not self._waiter.done():
                self._waiter.set_exception(ConnectionError(f"bad HTTP response: {exc}"))
            if self._transport is not None:
                self._transport.close()

    def on_message_begin(self) -> None:
        self._head = b""
        self._body = []
        self._size = 0

    def on_body(self, body: bytes) -> None:
        if len(self._head) < HEAD_BYTES:
            self._head += body[: HEAD_BYTES - len(self._head)]
        if self._keep_body:
            self._body.append(body)
        self._size += len(body)

    def on_message_complete(self) -> None:
        self.keep_alive = self._parser.should_keep_alive()
        if self._waiter is not None and not self._waiter.done():
            status = self._parser.get_status_code()
            body = b"".join(self._body) if self._keep_body else self._head
            self._waiter.set_result((status, body, self._size))

    async def request(self, data: bytes, max_wait: float) -> tuple[int, bytes, int]:
        """Send one request; (status, first bytes of the body or all of it, body size)."""
        if self._transport is None or self.closed:
            raise ConnectionError("connection is closed")
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[tuple[int, bytes, int]] = loop.create_future()
        self._waiter = waiter
        self._transport.write(data)
        timer = loop.call_later(max_wait, _expire, waiter)
        try:
            return await waiter
        finally:
            timer.cancel()
            self._waiter = None

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


def _expire(waiter: asyncio.Future[tuple[int, bytes, int]]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError("no answer in time"))


async def connect(host: str, port: int, keep_body: bool = False) -> ResponseProtocol:
    loop = asyncio.get_running_loop()
    _, protocol = await asyncio.wait_for(
        loop.create_connection(lambda: ResponseProtocol(keep_body), host, port), 10
    )
    return protocol


async def fetch(host: str, port: int, data: bytes, max_wait: float = 30.0) -> tuple[int, bytes]:
    """One request on a fresh connection, whole body kept (for checks outside the load)."""
    conn = await connect(host, port, keep_body=True)
    try:
        status, body, _ = await conn.request(data, max_wait)
        return status, body
    finally:
        conn.close()


def build_request(
    method: str,
    path: str,
    port: int,
    body: bytes = b"",
    content_type: str | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"host: 127.0.0.1:{port}", "accept: */*"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if content_type is not None:
        lines.append(f"content-type: {content_type}")
    if body or method in ("POST", "PUT"):
        lines.append(f"content-length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass
class LoadResult:
    concurrency: int
    window: float
    completed: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    bytes_received: int = 0
    first_error: str | None = None

    @property
    def rps(self) -> float:
        return self.completed / self.window if self.window > 0 else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def percentile(self, q: float) -> float | None:
        """Latency percentile in seconds (nearest rank), or None without samples."""
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
        return ordered[rank]

    def error(self, kind: str, detail: str, counted: bool) -> None:
        if counted:
            self.errors[kind] = self.errors.get(kind, 0) + 1
        if self.first_error is None:
            self.first_error = f"{kind}: {detail}"[:300]


@dataclass(frozen=True, slots=True)
class Window:
    """When to start counting and when to stop sending (``time.perf_counter`` values)."""

    start: float
    end: float


class _Load:
    """The shared state of one load run: its window, its result, and how to send."""

    def __init__(
        self,
        host: str,
        port: int,
        request: bytes | Sequence[bytes],
        window: Window,
        check: Check,
        max_wait: float,
    ) -> None:
        self.host, self.port = host, port
        self.requests = (request,) if isinstance(request, bytes) else tuple(request)
        self.sent = 0  # requests rotate (one per client key, say)
        self.window, self.check, self.max_wait = window, check, max_wait
        self.result = LoadResult(concurrency=0, window=window.end - window.start)

    async def worker(self, delay: float) -> None:
        await asyncio.sleep(delay)
        conn: ResponseProtocol | None = None
        try:
            while time.perf_counter() < self.window.end:
                if conn is None or conn.closed or not conn.keep_alive:
                    if conn is not None:
                        conn.close()
                    conn = await self._connect()
                    if conn is None:
                        await asyncio.sleep(0.05)
                        continue
                if not await self._one(conn):
                    conn.close()
                    conn = None
        finally:
            if conn is not None:
                conn.close()

    async def _connect(self) -> ResponseProtocol | None:
        try:
            return await connect(self.host, self.port)
        except (OSError, TimeoutError) as exc:
            self.result.error("connect", repr(exc), self._inside(time.perf_counter()))
            return None

    async def _one(self, conn: ResponseProtocol) -> bool:
        """One request; False when the connection must be dropped."""
        started = time.perf_counter()
        try:
            request = self.requests[self.sent % len(self.requests)]
            self.sent += 1
            status, head, size = await conn.request(request, self.max_wait)
        except (OSError, TimeoutError) as exc:
            kind = "timeout" if isinstance(exc, TimeoutError) else "connection"
            self.result.error(kind, repr(exc), self._inside(time.perf_counter()))
            return False
        finished = time.perf_counter()
        if not self._inside(finished):
            return True
        problem = self.check(status, head)
        if problem is not None:
            self.result.error(f"http_{status}" if status != 200 else "bad_body", problem, True)
            return True
        self.result.completed += 1
        self.result.bytes_received += size
        self.result.latencies.append(finished - started)
        return True

    def _inside(self, moment: float) -> bool:
        return self.window.start <= moment <= self.window.end


async def run_load(
    host: str,
    port: int,
    request: bytes | Sequence[bytes],
    *,
    concurrency: int,
    warmup: float,
    duration: float,
    check: Check,
    max_wait: float = 30.0,
    grace: float = 5.0,
    on_window: Callable[[str], None] | None = None,
) -> LoadResult:
    """Drive ``concurrency`` closed-loop workers; count completions inside the window.

    ``on_window("start")`` and ``on_window("end")`` are called at the window's edges (for
    /proc samples taken at exactly the same moments). After the window, in-flight requests get
    ``grace`` seconds, then are cancelled.
    """
    loop = asyncio.get_running_loop()
    now = time.perf_counter()
    load = _Load(
        host, port, request, Window(now + warmup, now + warmup + duration), check, max_wait
    )
    load.result.concurrency = concurrency
    edges: list[asyncio.TimerHandle] = []
    if on_window is not None:
        edges.append(loop.call_at(_loop_time(loop, load.window.start), on_window, "start"))
        edges.append(loop.call_at(_loop_time(loop, load.window.end), on_window, "end"))
    spread = warmup / 2
    tasks = [loop.create_task(load.worker(spread * i / concurrency)) for i in range(concurrency)]
    try:
        _, pending = await asyncio.wait(tasks, timeout=warmup + duration + grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5)
    finally:
        for task in tasks:
            task.cancel()
        for edge in edges:
            edge.cancel()
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            load.result.error("worker", repr(task.exception()), True)
    return load.result


def _loop_time(loop: asyncio.AbstractEventLoop, moment: float) -> float:
    return loop.time() + (moment - time.perf_counter())


async def wait_for_port(host: str, port: int, request: bytes, deadline: float) -> float | None:
    """Poll until ``request`` answers 200; seconds it took, or None at ``deadline``."""
    started = time.perf_counter()
    while time.perf_counter() < deadline:
        with contextlib.suppress(OSError, TimeoutError):
            status, _ = await fetch(host, port, request, max_wait=2)
            if status == 200:
                return time.perf_counter() - started
        await asyncio.sleep(0.01)
    return None
