"""A scriptable OpenAI-style upstream on 127.0.0.1, run in a thread with its own event loop.

Tests set ``server.script`` to a list of steps for the next request: ``("sleep", s)``,
``("event", name, payload)``, ``("raw", bytes)``, ``("json", status, body)``. Every request is
recorded (method, path, headers, body) so tests can assert what reached the upstream.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson

Step = tuple[Any, ...]


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class ScriptedUpstream:
    port: int = 0
    scripts: list[list[Step]] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    finished: threading.Event = field(default_factory=threading.Event)
    _loop: asyncio.AbstractEventLoop | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {
                k.lower(): v.strip()
                for k, _, v in (line.partition(":") for line in lines[1:] if line)
            }
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests.append(Recorded(method, path, headers, body))
            script = (
                self.scripts.pop(0)
                if self.scripts
                else [("json", 500, {"error": {"message": "no script"}})]
            )
            await self._play(script, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.finished.set()
            writer.close()

    async def _play(self, script: list[Step], writer: asyncio.StreamWriter) -> None:
        started = False
        for step in script:
            if step[0] == "sleep":
                await asyncio.sleep(step[1])
                continue
            if step[0] == "json":
                _, status, body = step
                payload = orjson.dumps(body)
                head = f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {len(payload)}\r\nconnection: close\r\n\r\n"
                writer.write(head.encode() + payload)
                await writer.drain()
                return
            if not started:
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n"
                )
                started = True
            if step[0] == "event":
                writer.write(
                    b"event: " + step[1].encode() + b"\ndata: " + orjson.dumps(step[2]) + b"\n\n"
                )
            elif step[0] == "raw":
                writer.write(step[1])
            await writer.drain()

    def start(self) -> None:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            server = loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            server.close()
            loop.run_until_complete(server.wait_closed())
            loop.close()

        threading.Thread(target=run, daemon=True).start()
        ready.wait(5)

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)


@contextmanager
def scripted_upstream() -> Iterator[ScriptedUpstream]:
    server = ScriptedUpstream()
    server.start()
    try:
        yield server
    finally:
        server.stop()
