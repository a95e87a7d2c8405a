"""The aiohttp transport behind httpx: a real loopback upstream (the strict fake), no mocks."""

from __future__ import annotations

import gzip
import socket
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest

from app.carriers.base import classify_exception
from app.carriers.http import AiohttpTransport, UpstreamClient
from tests.support.multipart import parse_multipart
from tests.support.upstream import FakeUpstream, Reply, json_reply


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=AiohttpTransport(), timeout=5) as c:
        yield c


async def test_post_sends_headers_and_body_and_reads_the_answer(
    fake: FakeUpstream, client: httpx.AsyncClient
) -> None:
    fake.route("/v1/images/generations", json_reply({"ok": True}, headers={"x-upstream": "yes"}))
    response = await client.post(
        fake.url("/v1/images/generations"),
        content=b'{"prompt": "fox"}',
        headers={"authorization": "Bearer sk-1", "content-type": "application/json"},
    )
    assert response.status_code == 200
    assert response.headers["x-upstream"] == "yes"
    assert response.json() == {"ok": True}
    [seen] = fake.requests
    assert (seen.method, seen.path, seen.body) == (
        "POST",
        "/v1/images/generations",
        b'{"prompt": "fox"}',
    )
    assert seen.headers["authorization"] == "Bearer sk-1"
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["content-length"] == "17"


async def test_multipart_uploads_stream_through(
    fake: FakeUpstream, client: httpx.AsyncClient
) -> None:
    image = bytes(range(256)) * 4096  # 1 MiB
    fake.route("/v1/images/edits", json_reply({"ok": True}))
    response = await client.post(
        fake.url("/v1/images/edits"),
        data={"prompt": "make it blue"},
        files={"image": ("in.png", image, "image/png")},
    )
    assert response.json() == {"ok": True}
    [seen] = fake.requests
    parts = parse_multipart(seen.headers["content-type"], seen.body)
    assert [(p.name, p.filename, p.content_type) for p in parts] == [
        ("prompt", None, None),
        ("image", "in.png", "image/png"),
    ]
    assert (parts[0].text, parts[1].data) == ("make it blue", image)


async def test_large_bodies_stream_and_early_exit_leaves_the_pool_usable(
    fake: FakeUpstream, client: httpx.AsyncClient
) -> None:
    big = b"x" * (5 * 1024 * 1024)
    fake.route("/big", Reply(body=big, headers={"content-type": "application/octet-stream"}))
    got = bytearray()
    async with client.stream("GET", fake.url("/big")) as response:
        async for chunk in response.aiter_bytes():
            got += chunk
    assert bytes(got) == big
    async with client.stream("GET", fake.url("/big")) as response:
        async for _ in response.aiter_bytes():
            break  # stop early: the connection must be dropped, not reused half-read
    assert (await client.get(fake.url("/big"))).content == big
    assert fake.connections == 2  # the first connection served two answers, then was dropped


async def test_content_encoding_is_decoded_by_httpx(
    fake: FakeUpstream, client: httpx.AsyncClient
) -> None:
    fake.route(
        "/z",
        Reply(
            body=gzip.compress(b'{"ok": true}'),
            headers={"content-encoding": "gzip", "content-type": "application/json"},
        ),
    )
    assert (await client.get(fake.url("/z"))).json() == {"ok": True}


async def test_redirects_are_left_to_httpx(fake: FakeUpstream, client: httpx.AsyncClient) -> None:
    fake.route("/r", Reply(302, headers={"location": "/elsewhere"}))
    response = await client.get(fake.url("/r"))
    assert response.status_code == 302
    assert response.headers["location"] == "/elsewhere"
    assert [r.path for r in fake.requests] == ["/r"]


async def test_connections_are_kept_alive(fake: FakeUpstream, client: httpx.AsyncClient) -> None:
    fake.route("/who", Reply(body=b"ok"))
    for _ in range(5):
        assert (await client.get(fake.url("/who"))).text == "ok"
    assert fake.connections == 1


async def test_a_slow_upstream_is_a_read_timeout(fake: FakeUpstream) -> None:
    gate = fake.gate()  # never opened: the upstream never answers (stop() cancels the answer)
    fake.script([("wait", gate)], path="/slow")
    async with httpx.AsyncClient(transport=AiohttpTransport(), timeout=0.2) as client:
        with pytest.raises(httpx.ReadTimeout) as caught:
            await client.get(fake.url("/slow"))
    assert gate.reached.is_set()
    assert classify_exception(caught.value) == "timeout"


async def test_a_refused_connection_is_a_connect_error(client: httpx.AsyncClient) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        with pytest.raises(httpx.ConnectError) as caught:
            await client.get(f"http://127.0.0.1:{port}/")
    assert classify_exception(caught.value) == "transient"


async def test_a_dropped_connection_is_not_a_timeout(
    fake: FakeUpstream, client: httpx.AsyncClient
) -> None:
    fake.route("/", [("close",)])  # read the request, then hang up without a word
    with pytest.raises(httpx.RemoteProtocolError) as caught:
        await client.get(fake.url("/"))
    assert classify_exception(caught.value) == "transient"


async def test_a_truncated_body_is_an_error(fake: FakeUpstream, client: httpx.AsyncClient) -> None:
    fake.script([("wire", b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\nonly this"), ("close",)])
    with pytest.raises(httpx.RemoteProtocolError):
        await client.get(fake.url("/"))


async def test_closing_the_client_closes_its_connections(fake: FakeUpstream) -> None:
    fake.route("/", Reply(body=b"ok"))
    async with httpx.AsyncClient(transport=AiohttpTransport()) as client:
        assert (await client.get(fake.url("/"))).text == "ok"
        assert not fake.idle(timeout=0)  # kept alive in the pool
    assert fake.idle(timeout=5)


async def test_the_upstream_client_keeps_no_cookies(fake: FakeUpstream) -> None:
    fake.route("/", Reply(body=b"ok", headers={"set-cookie": "session=abc; Path=/"}))
    async with UpstreamClient(transport=AiohttpTransport()) as client:
        first = await client.get(fake.url("/"))
        await client.get(fake.url("/"))
        assert first.cookies["session"] == "abc"  # still readable on the response itself
        assert not client.cookies
        with pytest.raises(ValueError):
            client.cookies = {"a": "b"}
    assert [r.headers.get("cookie") for r in fake.requests] == [None, None]


async def test_bodies_of_unknown_length_are_sent_chunked(
    fake: FakeUpstream, client: httpx.AsyncClient
) -> None:
    async def pieces() -> AsyncIterator[bytes]:
        for piece in (b"\x00\x01", b"", b"\x02" * 70_000):
            yield piece

    fake.route("/up", Reply(body=orjson.dumps({"ok": True})))
    assert (await client.post(fake.url("/up"), content=pieces())).status_code == 200
    [seen] = fake.requests
    assert seen.headers["transfer-encoding"] == "chunked"
    assert seen.body == b"\x00\x01" + b"\x02" * 70_000
