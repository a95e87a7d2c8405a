"""The aiohttp transport behind httpx: real loopback servers, no mocks."""

from __future__ import annotations

import asyncio
import gzip
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from aiohttp import web

from app.carriers.base import classify_exception
from app.carriers.http import AiohttpTransport, UpstreamClient

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


@pytest.fixture
async def server() -> AsyncIterator[Callable[[str, str, Handler], Awaitable[str]]]:
    runners: list[web.AppRunner] = []

    async def start(method: str, path: str, handler: Handler) -> str:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route(method, path, handler)
        runner, url = await _serve(app)
        runners.append(runner)
        return url

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=AiohttpTransport(), timeout=5) as c:
        yield c


async def test_post_sends_headers_and_body_and_reads_the_answer(server, client) -> None:
    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        return web.json_response(
            {
                "body": body.decode(),
                "auth": request.headers.get("authorization"),
                "type": request.headers.get("content-type"),
                "length": request.headers.get("content-length"),
            },
            headers={"x-upstream": "yes"},
        )

    base = await server("POST", "/v1/images/generations", echo)
    response = await client.post(
        base + "/v1/images/generations",
        content=b'{"prompt": "fox"}',
        headers={"authorization": "Bearer sk-1", "content-type": "application/json"},
    )
    assert response.status_code == 200
    assert response.headers["x-upstream"] == "yes"
    assert response.json() == {
        "body": '{"prompt": "fox"}',
        "auth": "Bearer sk-1",
        "type": "application/json",
        "length": "17",
    }


async def test_multipart_uploads_stream_through(server, client) -> None:
    image = bytes(range(256)) * 4096  # 1 MiB

    async def upload(request: web.Request) -> web.Response:
        form = await request.post()
        field = form["image"]
        assert isinstance(field, web.FileField)
        return web.json_response({"prompt": form["prompt"], "size": len(field.file.read())})

    base = await server("POST", "/v1/images/edits", upload)
    response = await client.post(
        base + "/v1/images/edits",
        data={"prompt": "make it blue"},
        files={"image": ("in.png", image, "image/png")},
    )
    assert response.json() == {"prompt": "make it blue", "size": len(image)}


async def test_large_bodies_stream_and_early_exit_leaves_the_pool_usable(server, client) -> None:
    big = b"x" * (5 * 1024 * 1024)

    async def download(request: web.Request) -> web.Response:
        return web.Response(body=big, content_type="application/octet-stream")

    base = await server("GET", "/big", download)
    got = bytearray()
    async with client.stream("GET", base + "/big") as response:
        async for chunk in response.aiter_bytes():
            got += chunk
    assert bytes(got) == big
    async with client.stream("GET", base + "/big") as response:
        async for _ in response.aiter_bytes():
            break  # stop early: the connection must be dropped, not reused half-read
    assert (await client.get(base + "/big")).content == big


async def test_content_encoding_is_decoded_by_httpx(server, client) -> None:
    async def zipped(request: web.Request) -> web.Response:
        return web.Response(
            body=gzip.compress(b'{"ok": true}'),
            headers={"content-encoding": "gzip", "content-type": "application/json"},
        )

    base = await server("GET", "/z", zipped)
    assert (await client.get(base + "/z")).json() == {"ok": True}


async def test_redirects_are_left_to_httpx(server, client) -> None:
    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/elsewhere")

    base = await server("GET", "/r", moved)
    response = await client.get(base + "/r")
    assert response.status_code == 302
    assert response.headers["location"] == "/elsewhere"


async def test_connections_are_kept_alive(server, client) -> None:
    peers: set[object] = set()

    async def who(request: web.Request) -> web.Response:
        peers.add(request.transport.get_extra_info("peername") if request.transport else None)
        return web.Response(text="ok")

    base = await server("GET", "/who", who)
    for _ in range(5):
        assert (await client.get(base + "/who")).text == "ok"
    assert len(peers) == 1


async def test_a_slow_upstream_is_a_read_timeout(server) -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.Response(text="late")

    base = await server("GET", "/slow", slow)
    async with httpx.AsyncClient(transport=AiohttpTransport(), timeout=0.2) as client:
        with pytest.raises(httpx.ReadTimeout) as caught:
            await client.get(base + "/slow")
    assert classify_exception(caught.value) == "timeout"


async def test_a_refused_connection_is_a_connect_error(client) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        with pytest.raises(httpx.ConnectError) as caught:
            await client.get(f"http://127.0.0.1:{port}/")
    assert classify_exception(caught.value) == "transient"


async def test_a_dropped_connection_is_not_a_timeout(client) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    async with await asyncio.start_server(hang_up, "127.0.0.1", 0) as listener:
        port = listener.sockets[0].getsockname()[1]
        with pytest.raises(httpx.RemoteProtocolError) as caught:
            await client.get(f"http://127.0.0.1:{port}/")
    assert classify_exception(caught.value) == "transient"


async def test_a_truncated_body_is_an_error(client) -> None:
    async def short(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\nonly this")
        await writer.drain()
        writer.close()

    async with await asyncio.start_server(short, "127.0.0.1", 0) as listener:
        port = listener.sockets[0].getsockname()[1]
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(f"http://127.0.0.1:{port}/")


async def test_closing_the_client_closes_the_session(server) -> None:
    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    base = await server("GET", "/", ok)
    transport = AiohttpTransport()
    async with httpx.AsyncClient(transport=transport) as client:
        assert (await client.get(base + "/")).text == "ok"
    assert transport._session is None


async def test_the_upstream_client_keeps_no_cookies(server) -> None:
    seen: list[str | None] = []

    async def sticky(request: web.Request) -> web.Response:
        seen.append(request.headers.get("cookie"))
        response = web.Response(text="ok")
        response.set_cookie("session", "abc")
        return response

    base = await server("GET", "/", sticky)
    async with UpstreamClient(transport=AiohttpTransport()) as client:
        first = await client.get(base + "/")
        await client.get(base + "/")
        assert first.cookies["session"] == "abc"  # still readable on the response itself
        assert not client.cookies
        with pytest.raises(ValueError):
            client.cookies = {"a": "b"}
    assert seen == [None, None]


async def test_bodies_of_unknown_length_are_sent_chunked(server, client) -> None:
    async def echo(request: web.Request) -> web.Response:
        return web.json_response(
            {"te": request.headers.get("transfer-encoding"), "body": (await request.read()).hex()}
        )

    async def pieces() -> AsyncIterator[bytes]:
        for piece in (b"\x00\x01", b"", b"\x02" * 70_000):
            yield piece

    base = await server("POST", "/up", echo)
    answer = (await client.post(base + "/up", content=pieces())).json()
    assert answer["te"] == "chunked"
    assert bytes.fromhex(answer["body"]) == b"\x00\x01" + b"\x02" * 70_000
