"""Small HTTP edges: 405 answers and over-long multipart boundaries."""

from __future__ import annotations

import httpx
import pytest


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("POST", "/healthz", "GET"),
        ("GET", "/v1/images/generations", "POST"),
        ("DELETE", "/v1/models", "GET"),
    ],
)
async def test_a_wrong_method_is_a_405_with_its_code_and_allow_header(
    client: httpx.AsyncClient, method: str, path: str, allowed: str
) -> None:
    response = await client.request(method, path)
    assert response.status_code == 405
    error = response.json()["error"]
    assert (error["code"], error["type"]) == ("method_not_allowed", "invalid_request_error")
    assert allowed in response.headers["allow"].split(", ")
    assert allowed in error["message"]


async def test_a_multipart_boundary_over_256_characters_is_a_400(
    client: httpx.AsyncClient,
) -> None:
    boundary = "b" * 257
    body = (
        f"--{boundary}\r\ncontent-disposition: form-data; name=prompt\r\n\r\nhi\r\n"
        f"--{boundary}--\r\n"
    ).encode()
    response = await client.post(
        "/v1/images/edits",
        content=body,
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_multipart" and "256" in error["message"]


async def test_a_multipart_boundary_of_256_characters_is_parsed(
    client: httpx.AsyncClient,
) -> None:
    boundary = "b" * 256
    body = (
        f"--{boundary}\r\ncontent-disposition: form-data; name=prompt\r\n\r\nhi\r\n"
        f"--{boundary}--\r\n"
    ).encode()
    response = await client.post(
        "/v1/images/edits",
        content=body,
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "missing_required_parameter"  # no image: parsed
