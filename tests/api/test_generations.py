"""POST /v1/images/generations through the app, with respx standing in for the upstream."""

from __future__ import annotations

import base64
import logging

import httpx
import orjson
import pytest
import respx

from tests.support.app import serve_in_process
from tests.support.config import UPSTREAM, UPSTREAM_KEY, MakeConfig
from tests.support.images import png_bytes
from tests.support.upstream import Reply, fake_upstream

GENERATIONS = f"{UPSTREAM}/images/generations"
PNG = png_bytes((64, 48))
USAGE = {
    "input_tokens": 50,
    "input_tokens_details": {"image_tokens": 0, "text_tokens": 50},
    "output_tokens": 1000,
    "total_tokens": 1050,
}


def b64_reply(count: int = 1, **extra: object) -> httpx.Response:
    data = [{"b64_json": base64.b64encode(PNG).decode()} for _ in range(count)]
    return httpx.Response(200, json={"created": 1, "data": data, **extra})


def sent(route: respx.Route) -> dict[str, object]:
    body: dict[str, object] = orjson.loads(route.calls.last.request.content)
    return body


async def test_forwards_normalized_parameters_and_rehosts(
    client: httpx.AsyncClient, upstream: respx.MockRouter
) -> None:
    route = upstream.post(GENERATIONS).mock(
        return_value=b64_reply(
            size="1536x1024", quality="high", background="opaque", output_format="png", usage=USAGE
        )
    )
    response = await client.post(
        "/v1/images/generations",
        json={
            "model": "gi2",
            "prompt": "a red fox",
            "size": "1536x1024",
            "quality": "hd",
            "response_format": "url",
            "style": None,
        },
        headers={"x-request-id": "client-req-1"},
    )
    assert response.status_code == 200, response.text
    assert sent(route) == {
        "model": "upstream-gpt-image-2",
        "prompt": "a red fox",
        "n": 1,
        "size": "1536x1024",
        "quality": "high",
    }
    assert route.calls.last.request.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    body = response.json()
    assert body["data"][0]["url"].startswith("http://gateway.test/images/")
    assert (body["size"], body["quality"], body["background"], body["output_format"]) == (
        "1536x1024",
        "high",
        "opaque",
        "png",
    )
    assert body["usage"] == USAGE
    assert body["cost"] == pytest.approx((50 * 5 + 1000 * 30) / 1_000_000)
    assert response.headers["x-request-id"] == "client-req-1"
    assert response.headers["x-imagegate-carrier"] == "up"
    assert response.headers["x-imagegate-attempts"] == "up:200"
    assert response.headers["x-imagegate-adjustments"] == "quality: hd -> high"
    image = await client.get(body["data"][0]["url"])
    assert image.content == PNG
    assert image.headers["content-type"] == "image/png"


async def test_b64_json_hands_back_the_upstream_string_and_stores_a_copy(
    client: httpx.AsyncClient, upstream: respx.MockRouter, make_config: MakeConfig
) -> None:
    upstream.post(GENERATIONS).mock(return_value=b64_reply(2))
    response = await client.post(
        "/v1/images/generations",
        json={"prompt": "two foxes", "n": 2, "response_format": "b64_json"},
    )
    assert response.status_code == 200
    data = response.json()["data"]
    assert [base64.b64decode(item["b64_json"]) for item in data] == [PNG, PNG]
    assert all("url" not in item for item in data)
    stored = list(make_config().storage.directory.rglob("*.png"))
    assert len(stored) == 2 and all(path.read_bytes() == PNG for path in stored)


async def test_b64_ephemeral_stores_nothing(
    client: httpx.AsyncClient, upstream: respx.MockRouter, make_config: MakeConfig
) -> None:
    upstream.post(GENERATIONS).mock(return_value=b64_reply())
    response = await client.post(
        "/v1/images/generations", json={"prompt": "x", "response_format": "b64_ephemeral"}
    )
    assert base64.b64decode(response.json()["data"][0]["b64_json"]) == PNG
    assert not list(make_config().storage.directory.rglob("*.png"))


async def test_upstream_url_is_downloaded_and_rehosted(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> None:
    upstream.route(host="127.0.0.1").pass_through()
    with fake_upstream() as cdn:
        cdn.route("/x.png", Reply(body=PNG, headers={"content-type": "image/png"}))
        upstream.post(GENERATIONS).mock(
            return_value=httpx.Response(
                200,
                json={
                    "created": 1,
                    "data": [{"url": cdn.url("/x.png"), "revised_prompt": "a fox, red"}],
                },
            )
        )
        # The image host is on loopback here, so it has to be allowed like any private address.
        async with serve_in_process(make_config(fetch={"allow": ["127.0.0.1/32"]})) as client:
            response = await client.post(
                "/v1/images/generations", json={"model": "dall-e-3", "prompt": "a fox"}
            )
            assert response.status_code == 200, response.text
            item = response.json()["data"][0]
            assert item["revised_prompt"] == "a fox, red"
            assert item["url"].startswith("http://gateway.test/images/")
            assert (await client.get(item["url"])).content == PNG
    assert cdn.connections == 1
    assert response.json()["cost"] == 0.04


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/iam",
        "http://127.0.0.1:9/x.png",
        "http://[::1]/x.png",
        "file:///etc/passwd",
    ],
)
async def test_a_carrier_cannot_make_the_gateway_fetch_internal_addresses(
    client: httpx.AsyncClient,
    upstream: respx.MockRouter,
    connections: list[tuple[str, int]],
    url: str,
) -> None:
    upstream.post(GENERATIONS).mock(
        return_value=httpx.Response(200, json={"created": 1, "data": [{"url": url}]})
    )
    response = await client.post(
        "/v1/images/generations", json={"model": "dall-e-3", "prompt": "a fox"}
    )
    assert response.status_code == 502
    assert connections == []


async def test_dall_e_upstream_is_asked_for_base64(
    client: httpx.AsyncClient, upstream: respx.MockRouter
) -> None:
    route = upstream.post(GENERATIONS).mock(return_value=b64_reply())
    await client.post(
        "/v1/images/generations",
        json={"model": "dall-e-3", "prompt": "x", "response_format": "url", "style": "natural"},
    )
    assert sent(route) == {
        "model": "dall-e-3",
        "prompt": "x",
        "n": 1,
        "style": "natural",
        "response_format": "b64_json",
    }


@pytest.mark.parametrize(
    "reply",
    [
        httpx.Response(200, content=b"not json"),
        httpx.Response(200, json={"data": []}),
        httpx.Response(200, json={"data": [{"b64_json": base64.b64encode(b"GIF89a...").decode()}]}),
        httpx.Response(200, json={"data": [{"b64_json": "%%%not-base64%%%"}]}),
    ],
    ids=["not-json", "no-images", "not-an-image", "bad-base64"],
)
async def test_unusable_upstream_bodies_are_502(
    client: httpx.AsyncClient, upstream: respx.MockRouter, reply: httpx.Response
) -> None:
    upstream.post(GENERATIONS).mock(return_value=reply)
    response = await client.post("/v1/images/generations", json={"prompt": "x"})
    assert response.status_code == 502
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


REFUSED = "refused the gateway's request"
KEY_REJECTED = "rejected the gateway's API key"


@pytest.mark.parametrize(
    ("upstream_status", "client_status", "code", "says", "failure"),
    [
        (401, 502, "upstream_error", f"{KEY_REJECTED} (HTTP 401)", "key_rejected"),
        (403, 502, "upstream_error", f"{KEY_REJECTED} (HTTP 403)", "key_rejected"),
        (404, 502, "upstream_error", f"{REFUSED} (HTTP 404)", "carrier"),
        (500, 502, "upstream_error", "failed (HTTP 500)", "transient"),
        (503, 502, "upstream_error", "failed (HTTP 503)", "transient"),
        (429, 429, "rate_limit_exceeded", "failed (HTTP 429)", "rate_limited"),
    ],
)
async def test_upstream_errors_map_to_client_errors(
    client: httpx.AsyncClient,
    upstream: respx.MockRouter,
    upstream_status: int,
    client_status: int,
    code: str,
    says: str,
    failure: str,
) -> None:
    """Each upstream status is named in the answer and counted as its kind of failure (a refusal
    of the gateway's credentials or path is the carrier's fault, not a passing one); the
    upstream's message, which may echo the key, is never passed on."""
    message = f"Incorrect API key provided: {UPSTREAM_KEY}"
    upstream.post(GENERATIONS).mock(
        return_value=httpx.Response(
            upstream_status,
            json={
                "error": {
                    "message": message,
                    "type": "invalid_request_error",
                    "code": "x",
                    "param": None,
                }
            },
            headers={"retry-after": "7"},
        )
    )
    response = await client.post("/v1/images/generations", json={"prompt": "x"})
    carriers = {c["name"]: c for c in (await client.get("/v1/carriers")).json()["data"]}
    assert response.status_code == client_status
    assert UPSTREAM_KEY not in response.text
    error = response.json()["error"]
    assert error["code"] == code and f"carrier 'up' {says}" in error["message"]
    assert response.headers["x-imagegate-attempts"] == f"up:{upstream_status}"
    assert response.headers.get("retry-after") == ("7" if upstream_status == 429 else None)
    assert "x-should-retry" not in response.headers  # the SDK decides from the status
    assert carriers["up"]["recent_failures"] == {failure: 1}


async def test_upstream_400_keeps_its_message_and_is_not_retried(
    client: httpx.AsyncClient, upstream: respx.MockRouter
) -> None:
    error = {
        "message": "Your request was rejected by the safety system.",
        "type": "image_generation_user_error",
        "param": None,
        "code": "moderation_blocked",
    }
    upstream.post(GENERATIONS).mock(return_value=httpx.Response(400, json={"error": error}))
    response = await client.post("/v1/images/generations", json={"prompt": "x"})
    assert response.status_code == 400
    assert response.json() == {"error": error}
    assert response.headers["x-should-retry"] == "false"


@pytest.mark.parametrize(
    ("side_effect", "status"),
    [(httpx.ConnectError("refused"), 502), (httpx.ReadTimeout("slow"), 504)],
)
async def test_connection_failures_are_502_and_timeouts_504(
    client: httpx.AsyncClient, upstream: respx.MockRouter, side_effect: Exception, status: int
) -> None:
    upstream.post(GENERATIONS).mock(side_effect=side_effect)
    response = await client.post("/v1/images/generations", json={"prompt": "x"})
    assert response.status_code == status
    assert response.json()["error"]["type"] in ("upstream_error", "timeout_error")


async def test_the_upstream_key_never_reaches_logs(
    client: httpx.AsyncClient, upstream: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for status in (400, 401, 500):
        upstream.post(GENERATIONS).mock(
            return_value=httpx.Response(
                status, json={"error": {"message": f"bad key {UPSTREAM_KEY}", "code": UPSTREAM_KEY}}
            )
        )
        response = await client.post("/v1/images/generations", json={"prompt": "x"})
        assert UPSTREAM_KEY not in response.text
    assert caplog.records
    assert UPSTREAM_KEY not in caplog.text


async def test_local_carrier_serves_offline(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/images/generations",
        json={
            "model": "offline",
            "prompt": "a boat",
            "size": "1024x1536",
            "output_format": "jpeg",
            "output_compression": 60,
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert body["data"][0]["url"].endswith(".jpeg")
    assert (body["size"], body["output_format"]) == ("1024x1536", "jpeg")
    assert response.headers["x-imagegate-carrier"] == "local"


async def test_a_carrier_without_key_is_disabled(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> None:
    def keyless(data: dict) -> None:
        data["carriers"][0]["api_key"] = ""
        data["models"][0]["carriers"].append({"carrier": "local"})

    async with serve_in_process(make_config(keyless)) as c:
        response = await c.post("/v1/images/generations", json={"prompt": "x"})
        only_upstream = await c.post(
            "/v1/images/generations", json={"model": "gpt-image-1", "prompt": "x"}
        )
    assert response.status_code == 200 and response.headers["x-imagegate-carrier"] == "local"
    assert only_upstream.status_code == 503
    assert only_upstream.json()["error"]["code"] == "no_carrier_available"
    assert not upstream.calls
