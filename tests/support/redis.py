"""Redis for tests: the machine's server (127.0.0.1:6379) under a key prefix of the test's
own, and private ``redis-server`` processes that outage tests stop, freeze and restart.

The machine's Redis is shared with other work: tests only ever touch keys under their own
prefix (deleted afterwards), never ``FLUSHALL``, and never stop it. When it is down the tests
fail with the command that starts it (as ``.ci/run`` does), never skip.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from pydantic import SecretStr

from app.config.redis import RedisConfig
from app.state.redis_client import SharedRedis
from tests.support.gateway import free_port

REDIS_URL = os.environ.get("IMAGEGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
START_REDIS = (
    'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" '
    "--appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log"
)


def unique_prefix() -> str:
    return f"igtest-redis-{secrets.token_hex(5)}"


def machine_redis() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        pytest.fail(
            f"Redis is not reachable at {REDIS_URL} ({exc}). The shared-state tests need it; "
            f"start it with: {START_REDIS}",
            pytrace=False,
        )
    return client


def delete_prefix(url: str, prefix: str) -> None:
    """Delete every key under ``prefix`` (and only those)."""
    with redis.Redis.from_url(url, socket_timeout=2) as client:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)


def redis_config(url: str = REDIS_URL, **options: object) -> RedisConfig:
    return RedisConfig.model_validate({"url": SecretStr(url), **options})


class PrivateRedis:
    """A ``redis-server`` of the test's own on a free loopback port: ``stop()`` (the port then
    refuses connections), ``freeze()``/``thaw()`` (SIGSTOP/SIGCONT: connections hang, the case
    a timeout must bound) and ``start()`` again on the same port, empty."""

    def __init__(self) -> None:
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="imagegate-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                   "--save", "", "--appendonly", "no", "--dir", str(self.directory)]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with redis.Redis(port=self.port, socket_timeout=0.5) as client:
                    client.ping()
                return self
            except redis.RedisError:
                time.sleep(0.02)
        raise RuntimeError(f"private redis-server on port {self.port} did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.thaw()
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def freeze(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=2)

    @contextmanager
    def monitor(self) -> Iterator[list[str]]:
        """Every command clients send meanwhile, as MONITOR prints it (``"evalsha" "..."``;
        commands scripts run inside Redis are left out): the list is filled when the block
        ends."""
        log = self.directory / f"monitor-{secrets.token_hex(4)}.log"
        with log.open("wb") as out:
            watcher = subprocess.Popen(
                ["redis-cli", "-p", str(self.port), "monitor"], stdout=out, stderr=out
            )
        seen: list[str] = []
        try:
            deadline = time.monotonic() + 5
            while b"OK" not in log.read_bytes() and time.monotonic() < deadline:
                time.sleep(0.01)
            yield seen
            with self.client() as client:
                client.echo("monitor-end")
            while b"monitor-end" not in log.read_bytes() and time.monotonic() < deadline + 5:
                time.sleep(0.01)
        finally:
            watcher.terminate()
            watcher.wait(timeout=5)
        lines = [line for line in log.read_text(errors="replace").splitlines() if '"' in line]
        ours = {_client_of(line) for line in lines if "monitor-end" in line}
        for line in lines:  # not from scripts, nor from the connection that ended the watch
            if _client_of(line) not in ours and not _client_of(line).endswith(" lua"):
                seen.append(line.split("] ", 1)[1])


def _client_of(monitor_line: str) -> str:
    """``[0 127.0.0.1:5555]`` of a MONITOR line: the database and the client (or ``lua``)."""
    return monitor_line.partition("[")[2].partition("]")[0]


def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own on the machine's Redis, deleted afterwards."""
    machine_redis().close()
    prefix = unique_prefix()
    yield prefix
    delete_prefix(REDIS_URL, prefix)


@pytest.fixture
async def shared(redis_prefix: str) -> AsyncIterator[SharedRedis]:
    """A process's Redis connection (the machine's server, this test's prefix)."""
    client = SharedRedis(redis_config(prefix=redis_prefix, timeout=1.0))
    yield client
    await client.close()


@pytest.fixture
def private() -> Iterator[PrivateRedis]:
    """A redis-server of this test's own, stopped afterwards."""
    yield from private_redis()


def command_names(sent: list[str]) -> list[str]:
    """The command of each line :meth:`PrivateRedis.monitor` saw, lower case."""
    return [line.split(" ", 1)[0].strip('"').lower() for line in sent]
