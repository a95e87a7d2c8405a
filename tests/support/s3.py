"""A real S3-protocol server on loopback for the tests and the bench: moto's server mode, run as
a child process (so it can be stopped and started again to test faults, and so its CPU is never
counted as the gateway's). Every wait is bounded; ``stop`` always reaps the process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

import httpx

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
