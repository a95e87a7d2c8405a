"""``metrics.port``: ``/metrics`` on a port of its own, served by the ``imagegate serve`` process.

The scrape is relayed to the main port's ``/metrics``, answered there by a worker as a
main-port scrape would be: the same metric set (the record stage's counters summed over
workers, and the gauges read at scrape time: carrier circuits, requests in flight, async
jobs by state), not a second copy to drift. The relay presents a random token made for this
run (``RELAY_ENV``, handed to the workers through the environment): the main port answers
``/metrics`` to it alone while ``metrics.port`` is set. The side port asks for
``metrics.token`` when one is set, as the main port would.
"""

from __future__ import annotations

import hmac
import os
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import orjson

RELAY_ENV = "IMAGEGATE_METRICS_RELAY_TOKEN"
TIMEOUT = 10.0  # seconds a relayed scrape may take
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "[::]": "::1"}


def relay_token() -> str | None:
    """The token the main port's ``/metrics`` answers to while ``metrics.port`` is set."""
    return os.environ.get(RELAY_ENV) or None


def bearer_matches(authorization: str, token: str) -> bool:
    scheme, _, given = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), token.encode())


def main_url(host: str, port: int) -> str:
    """Where this process reaches the main port (a wildcard bind is reached on loopback)."""
    target = _WILDCARDS.get(host, host).strip("[]")
    return f"http://[{target}]:{port}" if ":" in target else f"http://{target}:{port}"


def serve(host: str, port: int, upstream: str, token: str | None) -> ThreadingHTTPServer:
    """Start the side port (in a daemon thread) relaying to ``upstream``; sets the relay
    token for the workers this process starts next."""
    relay = secrets.token_urlsafe(32)
    os.environ[RELAY_ENV] = relay
    client = httpx.Client(timeout=TIMEOUT, trust_env=False)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.partition("?")[0] != "/metrics":
                return self._error(404, "Only /metrics is served on this port.", "not_found")
            if token and not bearer_matches(self.headers.get("authorization", ""), token):
                return self._error(
                    401, "/metrics needs its bearer token (metrics.token).", "invalid_api_key"
                )
            try:
                answer = client.get(
                    f"{upstream}/metrics", headers={"authorization": f"Bearer {relay}"}
                )
            except httpx.HTTPError as exc:
                return self._error(503, f"The gateway is not answering ({exc}).", "unavailable")
            self._send(answer.status_code, answer.content, answer.headers["content-type"])

        def _error(self, status: int, message: str, code: str) -> None:
            error = {"message": message, "type": "invalid_request_error", "param": None}
            self._send(status, orjson.dumps({"error": {**error, "code": code}}), "application/json")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # scrapes are not worth a log line each

    server = ThreadingHTTPServer((host.strip("[]"), port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics-port", daemon=True).start()
    return server
