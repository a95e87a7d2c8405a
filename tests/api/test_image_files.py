"""GET/HEAD /images/{id}.{ext} over the storage's stream: byte ranges, HEAD, ETag and 304."""

from __future__ import annotations

import httpx
import pytest


async def stored_image(client: httpx.AsyncClient) -> tuple[str, bytes]:
    response = await client.post(
        "/v1/images/generations", json={"model": "offline", "prompt": "a kite"}
    )
    path = response.json()["data"][0]["url"].removeprefix("http://gateway.test")
    whole = await client.get(path)
    assert whole.status_code == 200 and len(whole.content) > 100
    return path, whole.content


@pytest.mark.parametrize(
    ("range_header", "first", "last"),
    [
        ("bytes=0-0", 0, 0),
        ("bytes=5-", 5, None),
        ("bytes=-7", -7, None),
        ("bytes=10-99999", 10, None),
    ],
)
async def test_single_ranges_are_206_with_their_bytes(
    client: httpx.AsyncClient, range_header: str, first: int, last: int | None
) -> None:
    path, whole = await stored_image(client)
    start = first % len(whole)
    stop = len(whole) if last is None else last + 1
    part = await client.get(path, headers={"range": range_header})
    assert part.status_code == 206
    assert part.content == whole[start:stop]
    assert part.headers["content-range"] == f"bytes {start}-{stop - 1}/{len(whole)}"
    assert part.headers["content-length"] == str(stop - start)
    assert part.headers["etag"] and part.headers["accept-ranges"] == "bytes"


@pytest.mark.parametrize("range_header", ["bytes=999999-", "bytes=-0"])
async def test_unsatisfiable_ranges_are_416(client: httpx.AsyncClient, range_header: str) -> None:
    path, whole = await stored_image(client)
    response = await client.get(path, headers={"range": range_header})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(whole)}"
    assert response.content == b""


@pytest.mark.parametrize(
    "headers",
    [
        {"range": "bytes=0-1,4-5"},  # several ranges: the whole image (RFC 9110 allows it)
        {"range": "bytes=9-3"},  # malformed
        {"range": "items=0-3"},
        {"range": "bytes=0-3", "if-range": '"another-image"'},  # the client's copy is stale
    ],
)
async def test_ranges_not_honoured_get_the_whole_image(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    path, whole = await stored_image(client)
    response = await client.get(path, headers=headers)
    assert response.status_code == 200 and response.content == whole
    assert "content-range" not in response.headers


async def test_if_range_with_the_current_etag_gets_the_range(client: httpx.AsyncClient) -> None:
    path, whole = await stored_image(client)
    etag = (await client.head(path)).headers["etag"]
    part = await client.get(path, headers={"range": "bytes=0-3", "if-range": etag})
    assert part.status_code == 206 and part.content == whole[:4]


async def test_head_answers_headers_only_for_whole_images_and_ranges(
    client: httpx.AsyncClient,
) -> None:
    path, whole = await stored_image(client)
    head = await client.head(path)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(whole))
    assert head.headers["content-type"] == "image/png"
    ranged = await client.head(path, headers={"range": "bytes=2-5"})
    assert ranged.status_code == 206 and ranged.content == b""
    assert ranged.headers["content-range"] == f"bytes 2-5/{len(whole)}"
    assert ranged.headers["content-length"] == "4"


async def test_a_matching_weak_etag_is_304(client: httpx.AsyncClient) -> None:
    path, _ = await stored_image(client)
    etag = (await client.head(path)).headers["etag"]
    cached = await client.get(path, headers={"if-none-match": f"W/{etag}"})
    assert cached.status_code == 304 and cached.content == b""
    assert cached.headers["cache-control"] == "public, max-age=31536000, immutable"
    changed = await client.get(path, headers={"if-none-match": '"something-else"'})
    assert changed.status_code == 200
