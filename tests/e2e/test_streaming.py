"""Streaming and long requests through a real gateway process and a scripted loopback upstream."""

from __future__ import annotations

import base64
import io
import os
import time
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pytest
from PIL import Image

from app.carriers.openai.sse import SSEDecoder, SSEEvent
from tests.support.gateway import RunningGateway, wait_until
from tests.support.upstream import FakeUpstream, Gate, fake_upstream

KEEPALIVE = b": keep-alive\n\n"


@cache
def big_png() -> bytes:
    """About 3 MB of incompressible PNG (4 MB of base64), like a real high-quality image."""
    out = io.BytesIO()
    Image.frombytes("RGB", (1024, 1024), os.urandom(3 * 1024 * 1024)).save(
        out, "PNG", compress_level=1
    )
    return out.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def partial(index: int, size_mb: float) -> tuple[str, str, dict[str, Any]]:
    blob = b64(os.urandom(int(size_mb * 1024 * 1024 * 3 / 4)))
    return (
        "event",
        "image_generation.partial_image",
        {
            "type": "image_generation.partial_image",
            "b64_json": blob,
            "partial_image_index": index,
            "size": "1024x1024",
            "quality": "high",
            "background": "opaque",
            "output_format": "png",
            "created_at": 1,
        },
    )


def completed(usage: dict[str, Any] | None = None) -> tuple[str, str, dict[str, Any]]:
    return (
        "event",
        "image_generation.completed",
        {
            "type": "image_generation.completed",
            "b64_json": b64(big_png()),
            "size": "1024x1024",
            "quality": "high",
            "background": "opaque",
            "output_format": "png",
            "created_at": 2,
            "usage": usage or {"input_tokens": 10, "output_tokens": 4160, "total_tokens": 4170},
        },
    )


@pytest.fixture
def upstream_server() -> Iterator[FakeUpstream]:
    with fake_upstream() as server:
        yield server


@pytest.fixture
def gateway(
    gateway_factory: Callable[..., RunningGateway], upstream_server: FakeUpstream
) -> Callable[..., RunningGateway]:
    def start(
        *,
        keepalive: float = 0.2,
        first_wait: float = 0.1,
        second: bool = False,
        up_streams: bool = True,
        **model: Any,
    ) -> RunningGateway:
        def edit(data: dict[str, Any]) -> None:
            data["streaming"] = {"keepalive_interval": keepalive, "first_event_wait": first_wait}
            data["carriers"][0]["base_url"] = upstream_server.base_url
            data["carriers"][0]["retries"] = 0
            route: dict[str, Any] = {"carrier": "up"}
            if not up_streams:
                route["overrides"] = {"stream": False}
            fallback = {"carrier": "local", "offline_fallback": True}
            routes = [route, fallback] if second else [route]
            data["models"][0] = {
                "name": "gpt-image-2",
                "rules": "gpt-image-2",
                "carriers": routes,
                **model,
            }

        return gateway_factory(edit)

    return start


def read_events(response: httpx.Response) -> tuple[list[SSEEvent], list[bytes]]:
    decoder, events, raw = SSEDecoder(), [], []
    for chunk in response.iter_bytes():
        raw.append(chunk)
        events += decoder.feed(chunk)
    return events, raw


def stream(gateway: RunningGateway, **body: Any) -> tuple[httpx.Response, list[SSEEvent], bytes]:
    payload = {"prompt": "a fox", "stream": True, **body}
    with httpx.stream(
        "POST", f"{gateway.url}/v1/images/generations", json=payload, timeout=30
    ) as response:
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            events, raw = read_events(response)
            return response, events, b"".join(raw)
        response.read()
        return response, [], response.content


def stream_opening(
    gateway: RunningGateway, gate: Gate, when: Callable[[bytes], bool], **body: Any
) -> tuple[list[SSEEvent], bytes]:
    """Stream a generation whose upstream is held on ``gate``; open the gate as soon as what the
    client has received so far satisfies ``when`` (the gateway's keep-alives, say)."""
    payload = {"prompt": "a fox", "stream": True, **body}
    decoder, events, raw = SSEDecoder(), [], b""
    with httpx.stream(
        "POST", f"{gateway.url}/v1/images/generations", json=payload, timeout=30
    ) as response:
        assert response.status_code == 200
        for chunk in response.iter_bytes():
            raw += chunk
            events += decoder.feed(chunk)
            if when(raw):
                gate.open()
    assert gate.reached.is_set()
    return events, raw


def test_pass_through_order_content_and_rehosted_url(
    gateway: Callable[..., RunningGateway], upstream_server: FakeUpstream
) -> None:
    first, second = partial(0, 1), partial(1, 8)
    upstream_server.script([first, ("sleep", 0.05), second, ("sleep", 0.05), completed()])
    response, events, _ = stream(gateway(), partial_images=2)
    assert response.status_code == 200
    assert [e.event for e in events] == [
        "image_generation.partial_image",
        "image_generation.partial_image",
        "image_generation.completed",
        None,
    ]
    data = [orjson.loads(e.data) for e in events[:3]]
    assert (
        data[0]["b64_json"] == first[2]["b64_json"] and data[1]["b64_json"] == second[2]["b64_json"]
    )
    assert [d.get("partial_image_index") for d in data] == [0, 1, None]
    done = data[2]
    assert base64.b64decode(done["b64_json"]) == big_png()
    assert httpx.get(done["url"]).content == big_png()
    assert done["usage"]["output_tokens"] == 4160
    assert events[3].data == b"[DONE]"
    sent = orjson.loads(upstream_server.requests[0].body)
    assert (sent["stream"], sent["partial_images"]) == (True, 2)


def test_keepalive_comments_while_a_slow_upstream_works(
    gateway: Callable[..., RunningGateway], upstream_server: FakeUpstream
) -> None:
    gate = upstream_server.gate()  # the upstream works until the client has seen 4 keep-alives
    upstream_server.script([("wait", gate), completed()])
    events, raw = stream_opening(
        gateway(keepalive=0.1, first_wait=0.05), gate, lambda raw: raw.count(KEEPALIVE) >= 4
    )
    assert raw.count(KEEPALIVE) >= 4
    assert raw.index(b": keep-alive") < raw.index(b"event: image_generation.completed")
    assert [e.event for e in events] == ["image_generation.completed", None]
    assert b"event: ping" not in raw and b"data: \n" not in raw


def test_a_carrier_that_cannot_stream_is_synthesized(
    gateway: Callable[..., RunningGateway], upstream_server: FakeUpstream
) -> None:
    gate = upstream_server.gate()  # the upstream answers once the client has seen a keep-alive
    reply = ("json", 200, {"created": 1, "data": [{"b64_json": b64(big_png())}]})
    upstream_server.script([("wait", gate), reply])
    events, raw = stream_opening(
        gateway(up_streams=False, keepalive=0.1), gate, lambda raw: KEEPALIVE in raw,
        partial_images=2,
    )  # fmt: skip
    assert [e.event for e in events] == ["image_generation.completed", None]
    assert raw.index(KEEPALIVE) < raw.index(b"event: image_generation.completed")
    sent = orjson.loads(upstream_server.requests[0].body)
    assert "stream" not in sent and "partial_images" not in sent


def test_errors_before_the_first_event_are_http_errors(
    gateway: Callable[..., RunningGateway], upstream_server: FakeUpstream
) -> None:
    refusal = {
        "message": "rejected by the safety system",
        "type": "image_generation_user_error",
        "param": None,
        "code": "moderation_blocked",
    }
    upstream_server.script([("json", 400, {"error": refusal})])
    response, events, body = stream(gateway(first_wait=2))
    assert response.status_code == 400 and not events
    assert orjson.loads(body) == {"error": refusal}


def test_fallback_happens_only_before_the_first_event(
    gateway: Callable[..., RunningGateway], upstream_server: FakeUpstream
) -> None:
    running = gateway(second=True, first_wait=2)
    upstream_server.script([("json", 503, {"error": {"message": "overloaded"}})])
    response, events, _ = stream(running)
    assert response.status_code == 200
    assert [e.event for e in events] == [
        "image_generation.completed",
        None,
    ]  # from the local carrier
    assert httpx.get(orjson.loads(events[0].data)["url"]).status_code == 200

    error = {
        "type": "error",
        "error": {
            "message": "the model crashed",
            "type": "server_error",
            "param": None,
            "code": None,
        },
    }
    upstream_server.script(
        [partial(0, 0.1), ("raw", b"event: error\ndata: " + orjson.dumps(error) + b"\n\n")]
    )
    response, events, _ = stream(running, partial_images=1)
    assert [e.event for e in events] == ["image_generation.partial_image", "error"]
    body = orjson.loads(events[1].data)
    assert body["type"] == "error" and set(body["error"]) == {"message", "type", "param", "code"}
    assert "x-imagegate" not in body["error"]["message"]


def test_a_stream_that_ends_early_ends_with_an_error_event(
    gateway: Callable[..., RunningGateway], upstream_server: FakeUpstream
) -> None:
    upstream_server.script([partial(0, 0.1)])
    _, events, _ = stream(gateway(), partial_images=1)
    assert [e.event for e in events] == ["image_generation.partial_image", "error"]


def test_a_client_that_leaves_mid_stream_does_not_lose_the_image(
    gateway: Callable[..., RunningGateway], upstream_server: FakeUpstream, tmp_path: Path
) -> None:
    running = gateway()
    gate = upstream_server.gate()  # the final image comes only once the client has left
    upstream_server.script([partial(0, 0.5), ("wait", gate), completed()])
    payload = {"prompt": "a fox", "stream": True, "partial_images": 1}
    with httpx.stream(
        "POST",
        f"{running.url}/v1/images/generations",
        json=payload,
        headers={"x-request-id": "left-early"},
    ) as response:
        decoder = SSEDecoder()
        for chunk in response.iter_bytes():
            if decoder.feed(chunk):
                break  # got the first partial image: leave
    gate.open()
    # The gateway logs the request once the final image is stored.
    wait_until(lambda: "usage request=left-early" in running.log(), what="the usage line")
    stored = list((tmp_path / "images").rglob("*.png"))
    assert [p.read_bytes() for p in stored] == [big_png()]
    usage = [line for line in running.log().splitlines() if "usage request=left-early" in line]
    assert len(usage) == 1
    assert "outcome=succeeded" in usage[0] and "client_gone=true" in usage[0]


def test_the_openai_sdk_iterates_the_stream(
    gateway: Callable[..., RunningGateway], upstream_server: FakeUpstream
) -> None:
    upstream_server.script([partial(0, 1), partial(1, 1), completed()])
    client = openai.OpenAI(base_url=f"{gateway().url}/v1", api_key="x", max_retries=0)
    events = list(
        client.images.generate(model="gpt-image-2", prompt="a fox", stream=True, partial_images=2)
    )
    assert [e.type for e in events] == [
        "image_generation.partial_image",
        "image_generation.partial_image",
        "image_generation.completed",
    ]
    url = events[-1].model_dump()["url"]
    assert httpx.get(url).content == big_png()


def test_json_keepalive_survives_an_idle_timeout(
    gateway: Callable[..., RunningGateway], upstream_server: FakeUpstream
) -> None:
    running = gateway(keepalive=0.1)
    reply = ("json", 200, {"created": 1, "data": [{"b64_json": b64(big_png())}]})
    idle_timeout = httpx.Timeout(5, read=0.4)  # the "proxy" cuts connections idle for 0.4 s
    held = upstream_server.gate()  # without keep-alives nothing is sent while it is held
    upstream_server.script([("wait", held), reply])
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{running.url}/v1/images/generations", json={"prompt": "x"}, timeout=idle_timeout
        )
    held.open()
    slow = upstream_server.gate()  # held until the client has waited twice the idle timeout
    upstream_server.script([("wait", slow), reply])
    started, body = time.monotonic(), b""
    with httpx.stream(
        "POST",
        f"{running.url}/v1/images/generations",
        json={"prompt": "x"},
        headers={"x-imagegate-keepalive": "1"},
        timeout=idle_timeout,
    ) as kept:
        for chunk in kept.iter_bytes():
            body += chunk
            if time.monotonic() - started > 0.8:
                slow.open()
    assert kept.status_code == 200 and body.startswith(b" ")
    assert slow.reached.is_set() and time.monotonic() - started > 0.8
    assert httpx.get(orjson.loads(body)["data"][0]["url"]).content == big_png()


def test_json_keepalive_late_errors_arrive_as_200_with_an_error_body(
    gateway: Callable[..., RunningGateway], upstream_server: FakeUpstream
) -> None:
    running = gateway(keepalive=0.5, keepalive_json=True)
    gate = upstream_server.gate()  # the refusal comes after the first keep-alive byte
    upstream_server.script(
        [
            ("wait", gate),
            (
                "json",
                400,
                {
                    "error": {
                        "message": "refused",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": "moderation_blocked",
                    }
                },
            ),
        ]
    )
    body = b""
    with httpx.stream(
        "POST", f"{running.url}/v1/images/generations", json={"prompt": "x"}, timeout=10
    ) as late:
        for chunk in late.iter_bytes():
            body += chunk
            gate.open()
    assert body.startswith(b" ")
    assert late.status_code == 200 and orjson.loads(body)["error"]["code"] == "moderation_blocked"
    quick = httpx.post(
        f"{running.url}/v1/images/generations", json={"prompt": "x", "n": 99}, timeout=10
    )
    assert quick.status_code == 400  # fails well before the first keep-alive: a real status
