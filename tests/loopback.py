"""A tiny HTTP server on a loopback address, in a thread, that records what reaches it.

It stands in for image hosts (URL inputs) and for an OpenAI-compatible upstream in end-to-end
tests. ``connections`` counts accepted TCP connections: the proof that a refused URL was never
connected to.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    length: bool = True  # False: no Content-Length, the body ends when the connection closes


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Handler = Callable[[Seen], Reply]


class LoopbackServer:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.routes: dict[str, Reply | Handler] = {}
        self.requests: list[Seen] = []
        self.connections = 0
        owner = self
        family = socket.AF_INET6 if ":" in host else socket.AF_INET

        class Server(ThreadingHTTPServer):
            address_family = family
            daemon_threads = True

            def get_request(self) -> Any:
                conn = super().get_request()
                owner.connections += 1
                return conn

        class Handle(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._answer()

            def do_POST(self) -> None:
                self._answer()

            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                seen = Seen(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                owner.requests.append(seen)
                route = owner.routes.get(self.path.split("?")[0], Reply(404, b"not found"))
                reply = route(seen) if callable(route) else route
                if reply.delay:
                    threading.Event().wait(reply.delay)
                self.send_response(reply.status)
                framing = (
                    {"content-length": str(len(reply.body))}
                    if reply.length
                    else {"connection": "close"}
                )
                for name, value in {**framing, **reply.headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(reply.body)
                self.close_connection = not reply.length

            def log_message(self, *args: Any) -> None:
                pass

        self._server = Server((host, 0), Handle)
        self.host = host
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def url(self, path: str = "/") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{path}"

    def start(self) -> LoopbackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def loopback_server(host: str = "127.0.0.1") -> Iterator[LoopbackServer]:
    server = LoopbackServer(host).start()
    try:
        yield server
    finally:
        server.stop()
