"""Every bad edit input is a 4xx with the right param and code; nothing is fetched that should not be."""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pytest
import respx
from PIL import Image

from tests.support.app import serve_in_process
from tests.support.config import UPSTREAM, MakeConfig
from tests.support.images import data_uri, mask_png, png_bytes
from tests.support.upstream import FakeUpstream, Reply, fake_upstream

PNG = png_bytes((64, 64))
MB = 1024 * 1024


def jpeg(size: tuple[int, int] = (64, 64)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def server() -> Iterator[FakeUpstream]:
    with fake_upstream() as s:
        s.route("/cat.png", Reply(body=PNG))
        yield s


# `client` (tests/conftest.py) has no allow-list: every private address, 127.0.0.1
# included, is refused.


def assert_error(response: httpx.Response, status: int, param: str | None, code: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["param"], error["code"]) == (param, code), error
    assert error["type"] == "invalid_request_error"
    assert response.headers["x-should-retry"] == "false"


async def post_files(
    client: httpx.AsyncClient, files: Sequence[tuple[str, Any]], **fields: str
) -> httpx.Response:
    return await client.post(
        "/v1/images/edits", data={"prompt": "a hat", **fields}, files=list(files)
    )


def image(name: str = "image[]", data: bytes = PNG, filename: str = "a.png") -> tuple[str, Any]:
    return (name, (filename, data, "image/png"))


MULTIPART_CASES: list[tuple[str, list[tuple[str, Any]], dict[str, str], str, str]] = [
    ("no image (only a mask)", [image("mask", mask_png())], {}, "image", "missing_required_parameter"),
    ("17 images", [image() for _ in range(17)], {}, "image", "array_above_max_length"),
    ("a text file named cat.png", [image(), image(data=b"meow, not a picture", filename="cat.png")],
     {}, "image[1]", "unsupported_file_mimetype"),
    ("a truncated PNG", [image("image", PNG[:-20])], {}, "image", "invalid_image"),
    ("a mask of another size", [image(), image("mask", mask_png((32, 32)))], {}, "mask", "invalid_value"),
    ("a JPEG mask", [image(), ("mask", ("m.jpg", jpeg(), "image/jpeg"))], {}, "mask", "unsupported_file_mimetype"),
    ("a mask without alpha", [image(), image("mask", PNG)], {}, "mask", "invalid_value"),
    ("two masks", [image(), image("mask", mask_png()), image("mask[]", mask_png())], {}, "mask", "duplicate_parameter"),
    ("image[N] mixed with image[]", [image("image[0]"), image("image[]")], {}, "image", "invalid_value"),
    ("a duplicate index", [image("image[1]"), image("image[1]")], {}, "image[1]", "duplicate_parameter"),
    ("an unknown file part", [image(), image("images[]")], {}, "images[]", "unknown_parameter"),
    ("the prompt as a file", [image(), ("prompt", ("p.txt", b"a hat", "text/plain"))], {}, "prompt", "invalid_type"),
    ("a JPEG for dall-e-2", [("image", ("a.jpg", jpeg(), "image/jpeg"))], {"model": "dall-e-2"}, "image", "unsupported_file_mimetype"),
    ("a non-square dall-e-2 image", [image("image", png_bytes((64, 32)))], {"model": "dall-e-2"}, "image", "invalid_value"),
    ("an edit on dall-e-3", [image()], {"model": "dall-e-3"}, "model", "unsupported_parameter"),
    ("n as a word", [image()], {"n": "two"}, "n", "invalid_type"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("files", "fields", "param", "code"),
    [case[1:] for case in MULTIPART_CASES],
    ids=[case[0] for case in MULTIPART_CASES],
)
async def test_bad_multipart_inputs(
    client: httpx.AsyncClient,
    files: list[tuple[str, Any]],
    fields: dict[str, str],
    param: str,
    code: str,
) -> None:
    response = await post_files(client, files, **fields)
    assert_error(response, 400, param, code)


async def test_image_sent_as_a_text_field_gets_openais_answer(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/images/edits",
        data={"prompt": "a hat", "image": "https://example.com/cat.png"},
        files=[("mask", ("m.png", mask_png(), "image/png"))],
    )
    assert_error(response, 400, "image", "invalid_type")
    assert response.json()["error"]["message"] == (
        "Invalid type for 'image': expected one of an array of files or file, but got a string "
        "instead."
    )


async def test_a_repeated_text_field_is_a_duplicate_parameter(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/images/edits", data={"prompt": ["a hat", "a cap"]}, files=[image()]
    )
    assert_error(response, 400, "prompt", "duplicate_parameter")


async def test_a_60_mb_image_is_refused_while_it_streams_in(client: httpx.AsyncClient) -> None:
    big = PNG + b"\0" * (60 * MB)
    response = await post_files(client, [image(), image(data=big)])
    assert_error(response, 400, "image[1]", "file_too_large")


async def test_a_body_over_the_upload_limit_is_413(
    make_config: MakeConfig, upstream: respx.MockRouter
) -> None:
    config = make_config(server={"default_model": "gpt-image-2", "max_upload_bytes": 100_000})
    async with serve_in_process(config) as client:
        response = await post_files(client, [image(data=PNG + b"\0" * 200_000)])
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize(
    ("body", "content_type", "code"),
    [
        (b'--xyz\r\nContent-Disposition: form-data; name="prompt"\r\n\r\na hat\r\n',
         "multipart/form-data; boundary=xyz", "invalid_multipart"),
        (b"prompt=a+hat", "multipart/form-data", "invalid_multipart"),
        (b"prompt=a+hat", "application/x-www-form-urlencoded", "unsupported_content_type"),
        (b"{not json", "application/json", "invalid_json"),
    ],
)  # fmt: skip
async def test_malformed_bodies(
    client: httpx.AsyncClient, body: bytes, content_type: str, code: str
) -> None:
    response = await client.post(
        "/v1/images/edits", content=body, headers={"content-type": content_type}
    )
    assert_error(response, 400, None, code)


async def test_spooled_files_are_closed_after_success_and_failure(
    client: httpx.AsyncClient, upstream: respx.MockRouter
) -> None:
    upstream.post(f"{UPSTREAM}/images/edits").mock(
        return_value=httpx.Response(
            200, json={"data": [{"b64_json": base64.b64encode(PNG).decode()}]}
        )
    )
    big = [image(data=png_bytes((600, 600)) + b"\0" * 3 * MB) for _ in range(3)]
    before = len(os.listdir("/proc/self/fd"))
    assert (await post_files(client, big)).status_code == 200
    bad = [*big, image(data=b"not an image")]
    assert_error(await post_files(client, bad), 400, "image[3]", "unsupported_file_mimetype")
    assert_error(
        await post_files(client, [*big, image(data=PNG + b"\0" * 60 * MB)]),
        400,
        "image[3]",
        "file_too_large",
    )
    assert len(os.listdir("/proc/self/fd")) == before


# --- JSON edits ----------------------------------------------------------------------------

JSON_CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("no images", {}, "image", "missing_required_parameter"),
    ("an empty images list", {"images": []}, "images", "missing_required_parameter"),
    ("17 images", {"images": [{"image_url": data_uri(PNG)}] * 17}, "images", "array_above_max_length"),
    ("a file_id", {"images": [{"file_id": "file-abc123"}]}, "images[0]", "unsupported_parameter"),
    ("a file_id mask", {"image": data_uri(PNG), "mask": {"file_id": "file-m"}}, "mask", "unsupported_parameter"),
    ("a data URI that is not base64", {"images": [{"image_url": "data:image/png,hello"}]}, "images[0]", "invalid_image_url"),
    ("a data URI with bad base64", {"image": ["data:image/png;base64,iVBOR!!!"]}, "image[0]", "invalid_image_url"),
    ("a data URI of text", {"image": data_uri(b"just text")}, "image", "unsupported_file_mimetype"),
    ("a number as image", {"image": 5}, "image", "invalid_type"),
    ("both image and images", {"image": data_uri(PNG), "images": [{"image_url": data_uri(PNG)}]}, "image", "invalid_value"),
    ("a JSON edit on dall-e-2", {"model": "dall-e-2", "image": data_uri(PNG)}, "images", "unsupported_content_type"),
    ("a mask of another size", {"image": data_uri(PNG), "mask": data_uri(mask_png((8, 8)))}, "mask", "invalid_value"),
    ("a data URI over 50 MB", {"image": data_uri(b"\0" * (50 * MB + 10))}, "image", "file_too_large"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "param", "code"), [c[1:] for c in JSON_CASES], ids=[c[0] for c in JSON_CASES]
)
async def test_bad_json_inputs(
    make_config: MakeConfig, upstream: respx.MockRouter, body: dict[str, Any], param: str, code: str
) -> None:
    config = make_config(server={"default_model": "gpt-image-2", "max_json_edit_bytes": 100 * MB})
    async with serve_in_process(config) as client:
        response = await client.post("/v1/images/edits", json={"prompt": "a hat", **body})
    assert_error(response, 400, param, code)


SSRF_URLS = [
    "http://127.0.0.1:{port}/cat.png",
    "http://169.254.169.254/latest/meta-data",
    "http://[::1]:{port}/cat.png",
    "http://10.0.0.1/",
    "http://0.0.0.0:{port}/cat.png",
    "http://[::ffff:127.0.0.1]:{port}/cat.png",
    "file:///etc/passwd",
    "gopher://x",
    "http://localhost:{port}/cat.png",
]


@pytest.mark.parametrize("template", SSRF_URLS)
async def test_refused_urls_are_400_and_never_connected_to(
    client: httpx.AsyncClient,
    server: FakeUpstream,
    connections: list[tuple[str, int]],
    template: str,
) -> None:
    url = template.format(port=server.port)
    response = await client.post(
        "/v1/images/edits", json={"prompt": "a hat", "images": [{"image_url": url}]}
    )
    assert_error(response, 400, "images[0]", "invalid_image_url")
    assert connections == [] and server.connections == 0


async def test_a_public_looking_host_that_redirects_to_loopback_is_refused(
    make_config: MakeConfig,
    upstream: respx.MockRouter,
    server: FakeUpstream,
    connections: list[tuple[str, int]],
) -> None:
    """images.test resolves to 127.0.0.1, allowed here as if it were public; it redirects to a
    name that resolves to loopback (127.0.0.2), which is not allowed."""
    upstream.route(host="127.0.0.1").pass_through()

    async def resolver(host: str, port: int) -> list[str]:
        return {"images.test": ["127.0.0.1"], "sneaky.test": ["127.0.0.2"]}[host]

    with fake_upstream("127.0.0.2") as target:
        target.route("/cat.png", Reply(body=PNG))
        server.route(
            "/r", Reply(302, headers={"location": f"http://sneaky.test:{target.port}/cat.png"})
        )
        config = make_config(fetch={"allow": ["127.0.0.1/32"]})
        async with serve_in_process(config, resolver=resolver) as client:
            url = f"http://images.test:{server.port}/r"
            response = await client.post("/v1/images/edits", json={"prompt": "a hat", "image": url})
        assert_error(response, 400, "image", "invalid_image_url")
        message = response.json()["error"]["message"]  # the rule, not how the name resolves
        assert "sneaky.test' is not a public host" in message and "127.0.0.2" not in message
        assert target.connections == 0
        assert {address for address, _ in connections} == {"127.0.0.1"}


async def test_seventeen_urls_are_refused_before_any_is_fetched(
    client: httpx.AsyncClient, server: FakeUpstream, connections: list[tuple[str, int]]
) -> None:
    urls = [{"image_url": server.url("/cat.png")} for _ in range(17)]
    response = await client.post("/v1/images/edits", json={"prompt": "a hat", "images": urls})
    assert_error(response, 400, "images", "array_above_max_length")
    assert connections == []


async def test_an_unreachable_url_is_a_clear_400(
    make_config: MakeConfig, upstream: respx.MockRouter, server: FakeUpstream
) -> None:
    upstream.route(host="127.0.0.1").pass_through()
    server.route("/missing.png", Reply(404, b"not found"))
    async with serve_in_process(make_config(fetch={"allow": ["127.0.0.1/32"]})) as client:
        response = await client.post(
            "/v1/images/edits", json={"prompt": "a hat", "image": server.url("/missing.png")}
        )
    assert_error(response, 400, "image", "invalid_image_url")
    assert "HTTP 404" in response.json()["error"]["message"]


async def test_an_image_whose_pixel_data_is_corrupt_is_a_400_on_the_local_carrier(
    client: httpx.AsyncClient,
) -> None:
    """Its structure passes the header-only check; decoding it for the local edit fails."""
    start = PNG.index(b"IDAT") + 4
    corrupt = PNG[:start] + b"\xff" * 12 + PNG[start + 12 :]
    response = await post_files(client, [image("image", corrupt)], model="offline")
    assert_error(response, 400, "image", "invalid_image")
