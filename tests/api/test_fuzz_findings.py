"""Requests the fuzz test (tests/e2e/test_fuzz.py) found answered with a 500, kept as plain
regression tests: each is now a 4xx in the error envelope."""

from __future__ import annotations

import httpx
import pytest


@pytest.mark.parametrize("length", [257, 2075])
async def test_a_multipart_boundary_over_256_characters_is_a_400(
    client: httpx.AsyncClient, length: int
) -> None:
    boundary = "b" * length
    response = await client.post(
        "/v1/images/edits",
        content=f"--{boundary}--\r\n".encode(),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_multipart"
    assert error["message"] == (
        "The multipart body is malformed: the boundary is longer than 256 characters."
    )


async def test_a_256_character_boundary_is_still_parsed(client: httpx.AsyncClient) -> None:
    boundary = "b" * 256
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nx\r\n'
        f"--{boundary}--\r\n"
    )
    response = await client.post(
        "/v1/images/edits",
        content=body.encode(),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "missing_required_parameter"  # no image: parsed
