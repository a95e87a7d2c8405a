"""A fast mock of the OpenAI Images API, on raw asyncio + httptools (never the bottleneck).

    python -m bench.mock_upstream --port 0 --image-bytes 50000 [--latency 1.0] [--format url]

Speaks just enough of the API for the benchmark, and checks what it is sent:

- ``POST /v1/images/generations``: a JSON object with a ``prompt``;
- ``POST /v1/images/edits``: ``multipart/form-data`` with a ``prompt`` field and at least one
  ``image`` / ``image[]`` file part whose bytes are a PNG, JPEG or WebP;
- ``GET /files/image.png``: the image itself (what ``--format url`` answers point at);
- ``GET /healthz``.

Every successful answer is the same prepared bytes: one real PNG of about ``--image-bytes``,
as ``b64_json`` (default) or as a ``url`` served by this process, with gpt-image style echoes
and ``usage``. A missing ``Authorization: Bearer`` header is a 401, like the real API.
``--latency`` delays every Images answer without blocking anything else (a timer, not a sleep).
Prints ``READY <port>`` on stdout once listening.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import re
import signal
import sys
from dataclasses import dataclass
from typing import cast

import httptools
import orjson

from bench.loops import run_fast
from bench.pngs import noise_png

_BOUNDARY = re.compile(rb"boundary=(?:\"([^\"]+)\"|([^;\s]+))", re.IGNORECASE)
_IMAGE_PART = re.compile(rb'name="image(?:\[\])?"')
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"RIFF")
MAX_BODY = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Answers:
    """Every response this server can send, fully encoded once at start-up."""

    images: bytes
    png: bytes
    health: bytes


def http_response(status: str, body: bytes, content_type: str = "application/json") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


def error_response(status: str, message: str) -> bytes:
    body = {"error": {"message": message, "type": "invalid_request_error", "code": None}}
    return http_response(status, orjson.dumps(body))


def build_answers(image_bytes: int, fmt: str, port: int) -> Answers:
    png = noise_png(image_bytes)
    side = f"{1024}x{1024}"
    item: dict[str, str] = (
        {"url": f"http://127.0.0.1:{port}/files/image.png"}
        if fmt == "url"
        else {"b64_json": base64.b64encode(png).decode("ascii")}
    )
    body = {
        "created": 1_767_225_600,
        "data": [item],
        "background": "opaque",
        "output_format": "png",
        "quality": "medium",
        "size": side,
        "usage": {
            "input_tokens": 50,
            "input_tokens_details": {"image_tokens": 0, "text_tokens": 50},
            "output_tokens": 1056,
            "total_tokens": 1106,
        },
    }
    return Answers(
        images=http_response("200 OK", orjson.dumps(body)),
        png=http_response("200 OK", png, "image/png"),
        health=http_response("200 OK", b'{"status":"ok"}'),
    )


def check_generation(body: bytes) -> str | None:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "the body is not JSON"
    if not isinstance(data, dict) or not isinstance(data.get("prompt"), str):
        return "missing required parameter: 'prompt'"
    return None


def check_edit(content_type: bytes, body: bytes) -> str | None:
    """Just enough multipart checking to prove a real edit arrived (the images are not decoded)."""
    if not content_type.lower().startswith(b"multipart/form-data"):
        return "edits must be multipart/form-data"
    found = _BOUNDARY.search(content_type)
    if found is None:
        return "multipart body without a boundary"
    delimiter = b"--" + (found.group(1) or found.group(2))
    parts = body.split(delimiter)
    if len(parts) < 3 or not parts[-1].startswith(b"--"):
        return "malformed multipart body"
    has_prompt = has_image = False
    for part in parts[1:-1]:
        head, _, content = part.partition(b"\r\n\r\n")
        if b'name="prompt"' in head:
            has_prompt = True
        elif _IMAGE_PART.search(head) and content.startswith(_IMAGE_MAGIC):
            has_image = True
    if not has_prompt:
        return "missing required parameter: 'prompt'"
    if not has_image:
        return "missing required parameter: 'image' (a PNG, JPEG or WebP file)"
    return None


class Connection(asyncio.Protocol):
    """One keep-alive client connection; requests are answered in order."""

    def __init__(self, answers: Answers, latency: float) -> None:
        self._answers = answers
        self._latency = latency
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._content_type = b""
        self._authorized = False
        self._body: list[bytes] = []
        self._body_size = 0
        self._pending: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def connection_lost(self, exc: Exception | None) -> None:
        if self._pending is not None:
            self._pending.cancel()
        self._transport = None

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._send(error_response("400 Bad Request", "malformed HTTP"), close=True)

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._url = b""
        self._content_type = b""
        self._authorized = False
        self._body = []
        self._body_size = 0

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        lowered = name.lower()
        if lowered == b"content-type":
            self._content_type = value
        elif lowered == b"authorization":
            self._authorized = value.startswith(b"Bearer ") and len(value) > 7

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size <= MAX_BODY:
            self._body.append(body)

    def on_message_complete(self) -> None:
        method = self._parser.get_method()
        path = self._url.partition(b"?")[0]
        keep_alive = self._parser.should_keep_alive()
        if self._body_size > MAX_BODY:
            self._send(error_response("413 Payload Too Large", "body too large"), close=True)
            return
        answer, delayed = self._route(method, path)
        if delayed and self._latency > 0:
            loop = asyncio.get_running_loop()
            self._pending = loop.call_later(self._latency, self._send, answer, not keep_alive)
        else:
            self._send(answer, close=not keep_alive)

    def _route(self, method: bytes, path: bytes) -> tuple[bytes, bool]:
        """The answer, and whether it is an Images API answer (those get ``--latency``)."""
        if method == b"GET" and path == b"/files/image.png":
            return self._answers.png, False
        if method == b"GET" and path == b"/healthz":
            return self._answers.health, False
        if path not in (b"/v1/images/generations", b"/v1/images/edits"):
            return error_response("404 Not Found", "no such route"), False
        if method != b"POST":
            return error_response("405 Method Not Allowed", "use POST"), False
        if not self._authorized:
            return error_response("401 Unauthorized", "missing bearer token"), False
        body = b"".join(self._body)
        if path == b"/v1/images/generations":
            problem = check_generation(body)
        else:
            problem = check_edit(self._content_type, body)
        if problem is not None:
            return error_response("400 Bad Request", problem), False
        return self._answers.images, True

    def _send(self, data: bytes, close: bool = False) -> None:
        self._pending = None
        if self._transport is None:
            return
        self._transport.write(data)
        if close:
            self._transport.close()


async def serve(port: int, image_bytes: int, latency: float, fmt: str) -> None:
    loop = asyncio.get_running_loop()
    holder: list[Answers] = []

    def factory() -> Connection:
        return Connection(holder[0], latency)

    server = await loop.create_server(factory, "127.0.0.1", port, backlog=4096, reuse_address=True)
    bound = server.sockets[0].getsockname()[1]
    holder.append(build_answers(image_bytes, fmt, bound))
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"READY {bound}", flush=True)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--image-bytes", type=int, default=50_000, help="PNG size to answer")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before answering")
    parser.add_argument("--format", choices=("b64_json", "url"), default="b64_json")
    args = parser.parse_args(argv)
    print(f"mock upstream on CPUs {sorted(os.sched_getaffinity(0))}", file=sys.stderr)
    run_fast(serve(args.port, args.image_bytes, args.latency, args.format))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
