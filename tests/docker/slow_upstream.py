"""A slow stand-in for an OpenAI Images API, run inside the gateway's container.

``python slow_upstream.py PORT DELAY MARKER``: every ``POST .../images/generations`` touches
MARKER (so the driver knows the gateway's request is in flight), sleeps DELAY seconds, then
answers with one 16x16 PNG as ``b64_json``. Standard library only: it runs on the image's
interpreter and nothing is added to the image for it.
"""

from __future__ import annotations

import base64
import json
import struct
import sys
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SIDE = 16


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", SIDE, SIDE, 8, 2, 0, 0, 0)  # 8-bit RGB
    rows = b"".join(b"\x00" + b"\x20\x80\xc0" * SIDE for _ in range(SIDE))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


class Handler(BaseHTTPRequestHandler):
    delay = 0.0
    marker = Path("/tmp/upstream-request")

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.marker.touch()
        time.sleep(self.delay)
        image = base64.b64encode(tiny_png()).decode()
        body = json.dumps({"created": int(time.time()), "data": [{"b64_json": image}]}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    port, Handler.delay, Handler.marker = int(sys.argv[1]), float(sys.argv[2]), Path(sys.argv[3])
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
