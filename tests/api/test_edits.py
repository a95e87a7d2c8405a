"""POST /v1/images/edits: every accepted shape, asserting exactly what reached the upstream."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import respx
from PIL import Image

from tests.support.app import serve_in_process
from tests.support.config import UPSTREAM, MakeConfig
from tests.support.images import data_uri, mask_png, png_bytes
from tests.support.multipart import Part, parse_multipart
from tests.support.upstream import FakeUpstream, Reply, fake_upstream

FORMATS = ("png", "jpeg", "webp")
MEDIA = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
RESULT = png_bytes((16, 16), (0, 0, 255))
USAGE = {"input_tokens": 100, "output_tokens": 1000, "total_tokens": 1100,
         "input_tokens_details": {"text_tokens": 20, "image_tokens": 80}}  # fmt: skip


def sample(i: int) -> tuple[bytes, str]:
    """The i-th input: a distinct picture, cycling through PNG, JPEG and WebP."""
    fmt = FORMATS[i % 3]
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (i * 15 % 256, 200, 255 - i * 15 % 256)).save(out, fmt.upper())
    return out.getvalue(), fmt


def client_filename(i: int, fmt: str) -> str:
    """Even inputs carry a proper name; odd ones are raw bytes, as the SDK sends them."""
    return f"in_{i}.{fmt}" if i % 2 == 0 else "upload"


def expected_filename(i: int, fmt: str, count: int, given: str) -> str:
    if given.endswith(f".{fmt}"):
        return given
    return f"image.{fmt}" if count == 1 else f"image_{i}.{fmt}"


@pytest.fixture
def server() -> Iterator[FakeUpstream]:
    with fake_upstream() as s:
        for i in range(16):
            data, fmt = sample(i)
            s.route(f"/in_{i}.{fmt}", Reply(body=data, headers={"content-type": MEDIA[fmt]}))
        s.route("/mask.png", Reply(body=mask_png()))
        yield s


@pytest.fixture
async def client(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> AsyncIterator[httpx.AsyncClient]:
    upstream.post(f"{UPSTREAM}/images/edits", name="edits").mock(
        return_value=httpx.Response(
            200,
            json={
                "created": 1,
                "data": [{"b64_json": base64.b64encode(RESULT).decode()}],
                "usage": USAGE,
                "size": "1024x1024",
                "quality": "high",
            },  # fmt: skip
        )
    )
    async with serve_in_process(make_config(fetch={"allow": ["127.0.0.1/32"]})) as c:
        yield c


@pytest.fixture
async def local_client(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with no upstream route: any upstream call fails the test."""
    async with serve_in_process(make_config()) as c:
        yield c


def sent_upstream(upstream: respx.MockRouter) -> list[Part]:
    request = upstream.routes["edits"].calls.last.request
    return parse_multipart(request.headers["content-type"], request.content)


def assert_forwarded(
    parts: list[Part], count: int, filenames: list[str], mask: bool, fields: dict[str, str]
) -> None:
    texts = [p for p in parts if p.filename is None]
    files = [p for p in parts if p.filename is not None]
    assert parts[: len(texts)] == texts, "text fields come before files"
    assert {p.name: p.text for p in texts} == fields
    assert texts[0].name == "model"
    images = files[:count]
    assert [p.name for p in images] == ["image" if count == 1 else "image[]"] * count
    for i, part in enumerate(images):
        data, fmt = sample(i)
        assert part.data == data, f"image {i} out of order or changed"
        assert part.content_type == MEDIA[fmt]
        assert part.filename == expected_filename(i, fmt, count, filenames[i])
    rest = files[count:]
    if mask:
        assert [(p.name, p.filename, p.content_type, p.data) for p in rest] == [
            ("mask", "mask.png", "image/png", mask_png())
        ]
    else:
        assert rest == []


BASE_FIELDS = {"model": "upstream-gpt-image-2", "prompt": "add a hat", "n": "1"}

MULTIPART_SHAPES = [
    ("image", 1),
    *[("image[]", n) for n in (1, 2, 16)],
    *[("image[N]", n) for n in (1, 2, 16)],
    *[("repeated image", n) for n in (2, 16)],
]


def multipart_files(shape: str, count: int, mask_name: str | None) -> list[tuple[str, Any]]:
    files: list[tuple[str, Any]] = []
    for i in range(count):
        data, fmt = sample(i)
        name = client_filename(i, fmt)
        declared = MEDIA[fmt] if name != "upload" else "application/octet-stream"
        field = {"image": "image", "image[]": "image[]", "repeated image": "image"}.get(
            shape, f"image[{i}]"
        )
        files.append((field, (name, data, declared)))
    if shape == "image[N]":
        files.reverse()  # the index, not the position, decides the order
    if mask_name is not None:
        files.append((mask_name, ("mask.png", mask_png(), "image/png")))
    return files


@pytest.mark.parametrize("mask_name", [None, "mask", "mask[]"])
@pytest.mark.parametrize(("shape", "count"), MULTIPART_SHAPES)
async def test_multipart_shapes_reach_the_upstream_intact(
    client: httpx.AsyncClient,
    upstream: respx.MockRouter,
    shape: str,
    count: int,
    mask_name: str | None,
) -> None:
    files = multipart_files(shape, count, mask_name)
    fields = {"model": "gpt-image-2", "prompt": "add a hat", "size": "1024x1024",
              "quality": "hd", "n": "1", "output_compression": "80", "output_format": "webp",
              "stream": "false", "input_fidelity": "high", "response_format": "url"}  # fmt: skip
    response = await client.post("/v1/images/edits", data=fields, files=files)
    assert response.status_code == 200, response.text
    expected = {**BASE_FIELDS, "size": "1024x1024", "quality": "high",
                "output_format": "webp", "output_compression": "80"}  # fmt: skip
    names = [client_filename(i, sample(i)[1]) for i in range(count)]
    assert_forwarded(sent_upstream(upstream), count, names, mask_name is not None, expected)
    adjustments = response.headers["x-imagegate-adjustments"]
    assert "quality: hd -> high" in adjustments and "input_fidelity: dropped" in adjustments


JSON_SHAPES = [
    *[("images: data URIs", n) for n in (1, 2, 16)],
    *[("images: URLs", n) for n in (1, 2, 16)],
    ("image: one", 1),
    *[("image: list", n) for n in (1, 2, 16)],
]


def json_body(shape: str, count: int, mask: bool, server: FakeUpstream) -> dict[str, Any]:
    refs = []
    for i in range(count):
        data, fmt = sample(i)
        by_url = shape == "images: URLs" or (shape == "image: list" and i % 2 == 1)
        refs.append(server.url(f"/in_{i}.{fmt}") if by_url else data_uri(data, MEDIA[fmt]))
    body: dict[str, Any] = {"model": "gpt-image-2", "prompt": "add a hat"}
    if shape.startswith("images"):
        body["images"] = [{"image_url": ref} for ref in refs]
        if mask:
            body["mask"] = {"image_url": data_uri(mask_png())}
    else:
        body["image"] = refs[0] if shape == "image: one" else refs
        if mask:
            body["mask"] = server.url("/mask.png")
    return body


@pytest.mark.parametrize("mask", [False, True])
@pytest.mark.parametrize(("shape", "count"), JSON_SHAPES)
async def test_json_shapes_reach_the_upstream_intact(
    client: httpx.AsyncClient,
    upstream: respx.MockRouter,
    server: FakeUpstream,
    shape: str,
    count: int,
    mask: bool,
) -> None:
    by_url = [shape == "images: URLs" or (shape == "image: list" and i % 2) for i in range(count)]
    if any(by_url) or (mask and not shape.startswith("images")):
        upstream.route(host="127.0.0.1").pass_through()  # image URLs served by `server`
    response = await client.post("/v1/images/edits", json=json_body(shape, count, mask, server))
    assert response.status_code == 200, response.text
    names = [f"in_{i}.{sample(i)[1]}" if url else "" for i, url in enumerate(by_url)]
    assert_forwarded(sent_upstream(upstream), count, names, mask, BASE_FIELDS)


async def test_the_openai_path_alias_and_the_answer_are_those_of_generations(
    client: httpx.AsyncClient, upstream: respx.MockRouter
) -> None:
    data, _ = sample(0)
    response = await client.post(
        "/v1/openai/images/edits",
        data={"model": "gi2", "prompt": "add a hat", "quality": "hd"},
        files={"image": ("cat.png", data, "image/png")},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    url = body["data"][0]["url"]
    assert url.startswith("http://gateway.test/images/") and url.endswith(".png")
    assert (await client.get(url.removeprefix("http://gateway.test"))).content == RESULT
    assert body["usage"] == USAGE
    assert body["cost"] == pytest.approx((20 * 5 + 80 * 8 + 1000 * 30) / 1_000_000)
    assert (body["size"], body["quality"]) == ("1024x1024", "high")
    assert response.headers["x-imagegate-carrier"] == "up"
    assert response.headers["x-imagegate-attempts"] == "up:200"
    assert response.headers["x-imagegate-adjustments"] == "quality: hd -> high"
    b64 = await client.post(
        "/v1/images/edits",
        data={"prompt": "add a hat", "response_format": "b64_json"},
        files={"image": ("cat.png", data, "image/png")},
    )
    assert base64.b64decode(b64.json()["data"][0]["b64_json"]) == RESULT
    assert "response_format" not in {p.name for p in sent_upstream(upstream)}


async def test_edits_run_on_the_local_carrier(local_client: httpx.AsyncClient) -> None:
    client = local_client
    data, _ = sample(0)
    response = await client.post(
        "/v1/images/edits",
        data={"model": "offline", "prompt": "a hat", "size": "1536x1024", "n": "2"},
        files=[
            ("image[]", ("a.png", data, "image/png")),
            ("mask", ("m.png", mask_png(), "image/png")),
        ],
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-imagegate-carrier"] == "local"
    assert len(response.json()["data"]) == 2
    picture = await client.get(
        response.json()["data"][0]["url"].removeprefix("http://gateway.test")
    )
    assert Image.open(io.BytesIO(picture.content)).size == (1536, 1024)


async def test_dall_e_2_edits_a_square_png_with_its_own_rules(
    local_client: httpx.AsyncClient,
) -> None:
    client = local_client
    response = await client.post(
        "/v1/images/edits",
        data={"model": "dall-e-2", "prompt": "a hat", "size": "256x256"},
        files={
            "image": ("a.png", png_bytes((64, 64)), "image/png"),
            "mask": ("m.png", mask_png(), "image/png"),
        },
    )
    assert response.status_code == 200, response.text
