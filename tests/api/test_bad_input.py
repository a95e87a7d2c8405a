"""Every bad input from the spec gets a 4xx OpenAI envelope naming the parameter; none reach upstream."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

BAD_JSON = [
    ({"model": "gpt-image-2"}, 400, "prompt", "missing_required_parameter"),
    ({"prompt": "x" * 32001}, 400, "prompt", "string_above_max_length"),
    ({"prompt": "x", "n": 0}, 400, "n", "invalid_value"),
    ({"prompt": "x", "n": 11}, 400, "n", "invalid_value"),
    ({"prompt": "x", "n": "two"}, 400, "n", "invalid_type"),
    ({"prompt": "x", "size": "1000x1000"}, 400, "size", "invalid_value"),
    ({"prompt": "x", "size": "4000x1000"}, 400, "size", "invalid_value"),
    ({"prompt": "x", "size": "16x16"}, 400, "size", "invalid_value"),
    ({"prompt": "x", "size": "abc"}, 400, "size", "invalid_value"),
    ({"prompt": "x", "quality": "standard"}, 400, "quality", "invalid_value"),
    (
        {"prompt": "x", "background": "transparent", "output_format": "jpeg"},
        400,
        "background",
        "invalid_value",
    ),
    ({"prompt": "x", "output_compression": 50}, 400, "output_compression", "invalid_value"),
    ({"prompt": "x", "partial_images": 2}, 400, "partial_images", "invalid_value"),
    ({"prompt": "x", "stream": True, "n": 2}, 400, "stream", "invalid_value"),
    ({"prompt": "x", "style": "vivid"}, 400, "style", "unsupported_parameter"),
    ({"prompt": "x", "model": "no-such-model"}, 404, "model", "model_not_found"),
    ({"prompt": "x", "model": 7}, 400, "model", "invalid_type"),
]


def assert_envelope(
    response: httpx.Response, status: int, param: str | None, code: str | None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["param"], error["code"]) == (param, code)
    assert error["message"] and "Traceback" not in response.text
    assert response.headers["x-should-retry"] == "false"
    assert response.headers["x-request-id"]
    return error


@pytest.mark.parametrize(("body", "status", "param", "code"), BAD_JSON)
async def test_bad_json_parameters(
    client: httpx.AsyncClient,
    upstream: respx.MockRouter,
    body: dict[str, Any],
    status: int,
    param: str,
    code: str,
) -> None:
    response = await client.post("/v1/images/generations", json=body)
    assert_envelope(response, status, param, code)
    assert not upstream.calls


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        (b"prompt=a fox", "application/x-www-form-urlencoded", 400, "unsupported_content_type"),
        (b"a fox", "text/plain", 400, "unsupported_content_type"),
        (b"{not json", "application/json", 400, "invalid_json"),
        (b"", "application/json", 400, "invalid_json"),
        (b'["prompt", "a fox"]', "application/json", 400, "invalid_json"),
        (b'"a fox"', "application/json", 400, "invalid_json"),
        (
            b'{"prompt": "' + b"x" * (10 * 1024 * 1024) + b'"}',
            "application/json",
            413,
            "payload_too_large",
        ),
    ],
    ids=["form", "text", "broken", "empty", "array", "string", "10MB-prompt"],
)
async def test_bad_bodies(
    client: httpx.AsyncClient,
    upstream: respx.MockRouter,
    content: bytes,
    content_type: str,
    status: int,
    code: str,
) -> None:
    response = await client.post(
        "/v1/images/generations", content=content, headers={"content-type": content_type}
    )
    assert_envelope(response, status, None, code)
    assert not upstream.calls


async def test_oversized_body_without_content_length_is_cut_off(client: httpx.AsyncClient) -> None:
    async def chunks():  # a chunked upload gives no Content-Length to check up front
        for _ in range(40):
            yield b"x" * 65536

    response = await client.post(
        "/v1/images/generations", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_envelope(response, 413, None, "payload_too_large")


async def test_unknown_routes_and_methods_use_the_envelope(client: httpx.AsyncClient) -> None:
    missing = await client.get("/v1/nothing-here")
    assert missing.status_code == 404 and set(missing.json()["error"]) == {
        "message",
        "type",
        "param",
        "code",
    }
    wrong_method = await client.get("/v1/images/generations")
    assert wrong_method.status_code == 405
    assert set(wrong_method.json()["error"]) == {"message", "type", "param", "code"}


async def test_header_values_from_client_input_are_sanitized(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/images/generations",
        json={"model": "offline", "prompt": "x", "evil\r\nset-cookie: a=b": 1, "size": "1024×1024"},
    )
    assert response.status_code == 200
    adjustments = response.headers["x-imagegate-adjustments"]
    assert "\r" not in adjustments and "\n" not in adjustments
    assert "set-cookie" not in response.headers
    assert "size: 1024?1024 -> 1024x1024" in adjustments
