"""The request id travels to the upstream as ``x-request-id``, for generations and edits."""

from __future__ import annotations

import respx

from tests.support.app import serve_in_process
from tests.support.config import UPSTREAM, MakeConfig
from tests.support.images import png_bytes
from tests.support.routing import OK

PNG = png_bytes((16, 16))


async def test_the_request_id_reaches_the_upstream(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> None:
    generations = upstream.post(f"{UPSTREAM}/images/generations").mock(return_value=OK)
    edits = upstream.post(f"{UPSTREAM}/images/edits").mock(return_value=OK)
    async with serve_in_process(make_config()) as client:
        ids = {"x-request-id": "trace-me-1"}
        made = await client.post("/v1/images/generations", json={"prompt": "x"}, headers=ids)
        edited = await client.post(
            "/v1/images/edits",
            data={"prompt": "x", "model": "gpt-image-2"},
            files={"image": ("a.png", PNG, "image/png")},
            headers={"x-request-id": "trace-me-2"},
        )
    assert made.status_code == 200 and edited.status_code == 200, edited.text
    assert generations.calls.last.request.headers["x-request-id"] == "trace-me-1"
    assert edits.calls.last.request.headers["x-request-id"] == "trace-me-2"
