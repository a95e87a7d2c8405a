"""Raw loopback sockets against a running gateway, for tests below HTTP clients: slow, idle
and non-reading peers. Every wait here is bounded; callers close their sockets."""

from __future__ import annotations

import select
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson

from tests.support.gateway import RunningGateway

TCP_ESTABLISHED = 1  # tcpi_state values (linux/tcp_states.h)
TCP_CLOSE = 7


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def error_code(self) -> str | None:
        code: str | None = orjson.loads(self.body)["error"]["code"]
        return code


def connect(gateway: RunningGateway, *, receive_buffer: int | None = None) -> socket.socket:
    parts = urlsplit(gateway.url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer is not None:  # before connecting, so the advertised window is small too
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(5)
    sock.connect((parts.hostname or "127.0.0.1", parts.port or 80))
    return sock


def request_head(method: str, path: str, **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "host: gateway.test"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def wait_closed(sock: socket.socket, timeout: float) -> bytes | None:
    """Read until the peer closes (EOF or reset) within ``timeout``: what arrived, or None if
    the connection was still open at the deadline."""
    received = bytearray()
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select([sock], [], [], left)
        if not readable:
            break
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return bytes(received)
        if not chunk:
            return bytes(received)
        received += chunk
    return None


def read_response(sock: socket.socket, timeout: float = 5) -> RawResponse:
    """One response with a Content-Length body, read within ``timeout``."""
    data = bytearray()
    deadline = time.monotonic() + timeout
    while b"\r\n\r\n" not in data or len(data) < _expected_length(data):
        left = deadline - time.monotonic()
        readable, _, _ = select.select([sock], [], [], max(left, 0))
        chunk = sock.recv(65536) if readable else b""
        if not chunk:
            raise AssertionError(f"no whole response within {timeout} s: {bytes(data[:300])!r}")
        data += chunk
    return parse_response(bytes(data))


def parse_response(data: bytes) -> RawResponse:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawResponse(int(lines[0].split(" ")[1]), headers, body)


def tcp_state(sock: socket.socket) -> int:
    """The kernel's state of this end of the connection (no bytes are read)."""
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]


def _expected_length(data: bytearray) -> int:
    head, _, _ = bytes(data).partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(head) + 4 + int(value)
    return len(head) + 4
