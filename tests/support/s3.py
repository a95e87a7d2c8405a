"""A real S3-protocol server on loopback for the tests and the bench: moto's server mode, run as
a child process (so it can be stopped and started again to test faults, and so its CPU is never
counted as the gateway's). Every wait is bounded; ``stop`` always reaps the process."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn

ACCESS_KEY = "testing-access-key"
SECRET_KEY = "testing-secret-key"
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class S3Server:
    """One moto server on ``127.0.0.1:port``; ``start``/``stop`` may be called repeatedly."""

    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        if self.process is not None:
            return
        env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.endpoint}/moto-api/", timeout=1)
                return
            except httpx.HTTPError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("the moto S3 server did not start")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def create_bucket(self, bucket: str) -> None:
        """Create ``bucket`` (moto accepts any signature; the name is all that matters)."""
        response = httpx.put(f"{self.endpoint}/{bucket}", timeout=5)
        if response.status_code not in (200, 409):
            raise RuntimeError(f"could not create bucket {bucket}: {response.status_code}")

    def reset(self) -> None:
        """Forget every bucket and object (moto's own reset endpoint)."""
        httpx.post(f"{self.endpoint}/moto-api/reset", timeout=5)


class FaultyProxy:
    """An HTTP proxy in front of the S3 server that can fail on demand: ``mode`` is ``"pass"``
    (forward), ``"error"`` (answer 500 InternalError) or ``"slow"`` (wait ``delay`` seconds,
    then forward); ``failures = N`` answers the next N requests with 500s whatever the mode.
    ``seen`` counts requests. Runs uvicorn on its own loop in a thread; ``stop`` joins it."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.port = free_port()
        self.mode = "pass"
        self.delay = 0.0
        self.seen = 0
        self.failures = 0
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.seen += 1
        failing, self.failures = self.failures > 0, max(0, self.failures - 1)
        if failing or self.mode == "error":
            xml = b"<Error><Code>InternalError</Code><Message>injected</Message></Error>"
            await _reply(send, 500, [(b"content-type", b"application/xml")], xml)
            return
        if self.mode == "slow":
            await asyncio.sleep(self.delay)
        headers = [(k.decode(), v.decode()) for k, v in scope["headers"] if k != b"host"]
        query = scope["query_string"].decode()
        url = f"{self.target}{scope['raw_path'].decode()}" + (f"?{query}" if query else "")
        async with httpx.AsyncClient(timeout=30) as client:
            answer = await client.request(scope["method"], url, headers=headers, content=body)
        skip = {"content-length", "transfer-encoding", "connection", "content-encoding"}
        out = [(k.encode(), v.encode()) for k, v in answer.headers.items() if k not in skip]
        await _reply(send, answer.status_code, out, answer.content)

    def start(self) -> None:
        config = uvicorn.Config(
            self._app,
            host="127.0.0.1",
            port=self.port,
            log_level="error",
            lifespan="on",
            interface="asgi3",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.02)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)


async def _reply(send: Any, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
