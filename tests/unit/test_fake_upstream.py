"""The strict fake upstream (tests/support/upstream.py) that the other tests lean on."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from tests.support.upstream import FakeUpstream, Reply, Seen, UpstreamViolation, fake_upstream


def test_an_unscripted_request_fails_the_test_at_stop() -> None:
    server = FakeUpstream().start()
    server.route("/known", Reply(body=b"ok"))
    assert httpx.get(server.url("/known")).text == "ok"
    assert httpx.post(server.url("/unknown?x=1"), content=b"hi").status_code == 500
    with pytest.raises(UpstreamViolation, match=r"POST /unknown\?x=1"):
        server.stop()


def test_a_route_for_another_method_does_not_answer() -> None:
    with pytest.raises(UpstreamViolation, match="GET /only-post"), fake_upstream() as server:
        server.route("/only-post", Reply(body=b"ok"), method="POST")
        assert httpx.get(server.url("/only-post")).status_code == 500


def test_chunked_request_bodies_are_recorded_whole() -> None:
    def pieces() -> Iterator[bytes]:
        yield from (b"\x00\x01", b"", b"\x02" * 70_000)

    with fake_upstream() as server:
        server.route("/up", Reply(body=b"ok"))
        assert httpx.post(server.url("/up"), content=pieces()).text == "ok"
    [seen] = server.requests
    assert seen.headers["transfer-encoding"] == "chunked"
    assert seen.body == b"\x00\x01" + b"\x02" * 70_000


def test_connections_are_counted_and_kept_alive() -> None:
    with fake_upstream() as server:
        server.route("/", Reply(body=b"ok"))
        with httpx.Client() as client:
            for _ in range(3):
                assert client.get(server.url("/")).text == "ok"
        assert server.connections == 1
        with socket.create_connection(("127.0.0.1", server.port)):
            pass  # a connection that never sends a request still counts
        with httpx.Client() as client:
            client.get(server.url("/"))
    assert server.connections == 3
    assert [r.path for r in server.requests] == ["/"] * 4


def test_scripts_answer_one_request_each_in_order() -> None:
    with fake_upstream() as server:
        server.script([("event", "first", {"n": 1}), ("raw", b": comment\n\n")])
        server.script([("json", 418, {"error": "teapot"})], path="/v1/b")
        server.route("/v1/a", Reply(body=b"routed"))
        sse = httpx.post(server.url("/v1/a"), json={"prompt": "x"})
        teapot = httpx.post(server.url("/v1/b"))
        routed = httpx.post(server.url("/v1/a"))
    assert sse.headers["content-type"] == "text/event-stream"
    assert sse.content == b'event: first\ndata: {"n":1}\n\n: comment\n\n'
    assert (teapot.status_code, teapot.json()) == (418, {"error": "teapot"})
    assert routed.text == "routed"
    assert server.requests[0].json() == {"prompt": "x"}


def test_a_client_that_hangs_up_is_quiet_and_stop_does_not_wait_for_held_answers(
    capfd: pytest.CaptureFixture[str],
) -> None:
    with fake_upstream() as server:
        gate = server.gate()  # never opened: the answer is held until stop() cancels it
        server.script([("event", "started", {}), ("wait", gate), ("event", "late", {})])
        with httpx.stream("GET", server.url("/sse")) as response:
            assert next(response.iter_lines()) == "event: started"
            assert gate.reached.wait(5)
        server.route("/gone", Reply(body=b"x" * 1_000_000, delay=0.01))
        with httpx.stream("GET", server.url("/gone")) as response:
            pass  # leave before reading the body
    assert capfd.readouterr().err == ""


def test_a_script_no_request_played_fails_the_test_at_stop() -> None:
    with pytest.raises(UpstreamViolation, match="a script no request played"), fake_upstream() as s:
        s.script([("json", 200, {"never": "asked"})])


def test_a_failing_handler_fails_the_test_at_stop() -> None:
    def broken(seen: Seen) -> Reply:
        raise ValueError("the handler broke")

    with pytest.raises(UpstreamViolation, match="the handler broke"), fake_upstream() as server:
        server.route("/", broken)
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(server.url("/"))
