"""One strict fake upstream on a loopback address: a real socket, run on its own event loop in a
thread, for every test that needs one (image hosts, OpenAI-compatible carriers, the transport).

- ``route(path, answer)`` answers every request to ``path`` with a :class:`Reply`, with what a
  handler (``Seen -> Reply``) returns, or by playing a list of steps (below).
- ``script(steps)`` answers the next request (to any path, or to ``path=``) by playing steps:
  ``("sleep", s)``, ``("wait", gate)``, ``("event", name, payload)`` (an SSE event),
  ``("raw", bytes)`` (SSE body bytes), ``("json", status, body)`` (a whole JSON answer),
  ``("wire", bytes)`` (bytes straight onto the socket, no head) and ``("close",)`` (hang up).
- ``requests`` records every request (method, path, headers, body; chunked bodies are read);
  ``connections`` counts accepted TCP connections (the proof that a refused URL was never dialled)
  and ``idle()`` waits until the client has closed them all.
- It is strict: a request that no route or script answers gets a 500 and is recorded as a
  violation, and ``stop()`` (so the context manager and the fixtures) then fails the test, as
  respx's ``assert_all_mocked`` would. A script that no request played fails it too (respx's
  ``assert_all_called``), and so do errors on the server loop.
- A client that hangs up is not an error: nothing is printed.
- ``stop()`` cancels answers still in progress (a sleeping reply does not delay teardown) and
  joins the thread. Everything the test thread and the server loop share is behind one lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import orjson

Step = tuple[Any, ...]


@dataclass(frozen=True)
class Seen:
    """One request as it reached the upstream; header names are lower-case."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    length: bool = True  # False: no Content-Length, the body ends when the connection closes


Handler = Callable[[Seen], Reply]
Answer = Reply | Handler | list[Step]


class UpstreamViolation(AssertionError):
    """The fake upstream saw what the test did not script: a request no route or script
    answers, a script no request played, or an error while answering."""


def json_reply(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return Reply(
        status, orjson.dumps(body), {"content-type": "application/json", **(headers or {})}
    )


class Gate:
    """A one-shot gate between the test and the server loop: a ``("wait", gate)`` step holds its
    answer until ``open()`` (from any thread); ``reached`` is set when an answer gets there."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._event = asyncio.Event()  # touched only on the server loop
        self.reached = threading.Event()

    def open(self) -> None:
        with contextlib.suppress(RuntimeError):  # the server loop is already closed
            self._loop.call_soon_threadsafe(self._event.set)

    async def _pass(self) -> None:
        self.reached.set()
        await self._event.wait()


class _Hangup(Exception):
    """The connection must end now (a ``close`` step, or a reply that ends with the socket)."""


class FakeUpstream:
    """The server; see the module docstring. ``fake_upstream()`` and the ``fake`` fixture start
    and stop it around a test."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # notified when a connection ends
        self._open = 0
        self._routes: dict[str, tuple[str | None, Answer]] = {}
        self._scripts: list[tuple[str | None, list[Step]]] = []
        self._requests: list[Seen] = []
        self._violations: list[str] = []
        self._connections = 0
        self._loop = asyncio.new_event_loop()
        self._stopping = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._thread = threading.Thread(target=self._run, name=f"fake-upstream-{host}", daemon=True)
        self._ready = threading.Event()
        self._failed: BaseException | None = None

    # --- what the test sets up and reads (any thread) -----------------------------------------

    def route(self, path: str, answer: Answer, method: str | None = None) -> None:
        """Answer every request to ``path`` (and ``method``, if given) the same way."""
        with self._lock:
            self._routes[path] = (method, answer)

    def script(self, steps: list[Step], path: str | None = None) -> None:
        with self._lock:
            self._scripts.append((path, list(steps)))

    def gate(self) -> Gate:
        return Gate(self._loop)

    @property
    def requests(self) -> list[Seen]:
        with self._lock:
            return list(self._requests)

    @property
    def connections(self) -> int:
        with self._lock:
            return self._connections

    @property
    def violations(self) -> list[str]:
        with self._lock:
            return list(self._violations)

    def idle(self, timeout: float = 5) -> bool:
        """Wait until every accepted connection has ended (the client closed it); whether it
        happened within ``timeout``."""
        with self._changed:
            return self._changed.wait_for(lambda: self._open == 0, timeout)

    def url(self, path: str = "/") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{path}"

    @property
    def base_url(self) -> str:
        """Where an OpenAI-compatible carrier points: ``http://host:port/v1``."""
        return self.url("/v1")

    def start(self) -> FakeUpstream:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the fake upstream did not start within 10 s")
        if self._failed is not None:
            raise RuntimeError("the fake upstream could not start") from self._failed
        return self

    def stop(self) -> None:
        """Stop serving, join the thread, and fail if anything unscripted happened."""
        if self._thread.is_alive():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join(10)
            if self._thread.is_alive():
                raise RuntimeError("the fake upstream thread did not stop within 10 s")
        if self._failed is not None:
            raise RuntimeError("the fake upstream loop failed") from self._failed
        with self._lock:
            self._violations += [
                f"a script no request played: {steps!r:.200}" for _, steps in self._scripts
            ]
            self._scripts.clear()
        violations = self.violations
        if violations:
            raise UpstreamViolation("; ".join(violations))

    # --- the server loop --------------------------------------------------------------------

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.set_exception_handler(self._loop_error)
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as error:  # reported by start() or stop()
            self._failed = error
        finally:
            self._ready.set()
            self._loop.close()

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        with self._lock:
            self._violations.append(f"error on the server loop: {context.get('message')!r} "
                                    f"{context.get('exception')!r}")  # fmt: skip

    async def _serve(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        server = await asyncio.start_server(self._connected, self.host, 0, family=family)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stopping.wait()
            server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for _ in range(3):  # let the cancelled connections' transports finish closing
            await asyncio.sleep(0)

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        with self._lock:
            self._connections += 1
            self._open += 1
        try:
            while await self._exchange(reader, writer):
                pass
        except (
            _Hangup,
            ConnectionError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            asyncio.CancelledError,  # stop(): the answer in progress is abandoned
        ):
            pass
        except Exception as error:  # a malformed request, a failing handler: fail the test
            with self._lock:
                self._violations.append(f"error while answering: {error!r}")
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()
            with self._changed:
                self._open -= 1
                self._changed.notify_all()

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Read one request and answer it; whether the connection may carry another."""
        seen = await _read_request(reader, writer)
        with self._lock:
            self._requests.append(seen)
            answer = self._answer_for(seen)
        if isinstance(answer, list):
            await _play(answer, writer)
            return False
        reply = answer(seen) if callable(answer) else answer
        if reply.delay:
            await asyncio.sleep(reply.delay)
        framing = {"content-length": str(len(reply.body))} if reply.length else {}
        keep = reply.length and seen.headers.get("connection", "").lower() != "close"
        headers = {**framing, **({} if keep else {"connection": "close"}), **reply.headers}
        writer.write(_head(reply.status, headers) + reply.body)
        await writer.drain()
        return keep

    def _answer_for(self, seen: Seen) -> Answer:
        """Called with the lock held."""
        path = seen.path.split("?")[0]
        for i, (wanted, steps) in enumerate(self._scripts):
            if wanted is None or wanted == path:
                del self._scripts[i]
                return steps
        method, answer = self._routes.get(path, (None, None))
        if answer is not None and method in (None, seen.method):
            return answer
        self._violations.append(f"unscripted request: {seen.method} {seen.path}")
        return json_reply({"error": {"message": "unscripted request to the fake upstream"}}, 500)


async def _read_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Seen:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            headers[name] = (
                f"{headers[name]}, {value.strip()}" if name in headers else value.strip()
            )
    if headers.get("expect", "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = await _read_chunked(reader)
    else:
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Seen(method, path, headers, body)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                pass
            return bytes(body)
        body += await reader.readexactly(size)
        if await reader.readexactly(2) != b"\r\n":
            raise ValueError("a chunk does not end with CRLF")


def _head(status: int, headers: dict[str, str]) -> bytes:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


SSE_HEAD = {"content-type": "text/event-stream", "connection": "close"}


async def _play(steps: list[Step], writer: asyncio.StreamWriter) -> None:
    started = False
    for step in steps:
        kind = step[0]
        if kind == "sleep":
            await asyncio.sleep(step[1])
        elif kind == "wait":
            await step[1]._pass()
        elif kind == "close":
            raise _Hangup
        elif kind == "wire":
            writer.write(step[1])
        elif kind == "json":
            payload = orjson.dumps(step[2])
            headers = {"content-type": "application/json", "content-length": str(len(payload))}
            writer.write(_head(step[1], {**headers, "connection": "close"}) + payload)
            await writer.drain()
            return
        elif kind in ("event", "raw"):
            if not started:
                writer.write(_head(200, SSE_HEAD))
                started = True
            if kind == "event":
                writer.write(f"event: {step[1]}\ndata: ".encode() + orjson.dumps(step[2]) + b"\n\n")
            else:
                writer.write(step[1])
        else:
            raise ValueError(f"unknown step {step!r}")
        await writer.drain()


@contextmanager
def fake_upstream(host: str = "127.0.0.1") -> Iterator[FakeUpstream]:
    """A started fake upstream; leaving the block stops it and fails on unscripted requests."""
    server = FakeUpstream(host).start()
    try:
        yield server
    finally:
        server.stop()
