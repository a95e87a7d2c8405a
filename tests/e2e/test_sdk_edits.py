"""Edits end to end: the official openai SDK against a real ``imagegate serve`` process."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from PIL import Image

from tests.support.config import base_config, write_config
from tests.support.gateway import RunningGateway, sdk, start_gateway, stop_gateway
from tests.support.multipart import parse_multipart
from tests.support.upstream import FakeUpstream, Reply, Seen, fake_upstream

RESULT = Image.new("RGB", (16, 16), (0, 0, 255))


def picture(
    colour: tuple[int, int, int], fmt: str = "PNG", size: tuple[int, int] = (96, 96)
) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, fmt)
    return out.getvalue()


def mask_png(size: tuple[int, int] = (96, 96)) -> bytes:
    mask = Image.new("RGBA", size, (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, size[0] // 2, size[1]))
    out = io.BytesIO()
    mask.save(out, "PNG")
    return out.getvalue()


def fetch_picture(url: str) -> Image.Image:
    response = httpx.get(url)
    assert response.status_code == 200
    return Image.open(io.BytesIO(response.content))


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    """An OpenAI-compatible upstream on 127.0.0.1 that answers every edit with one image."""
    with fake_upstream() as server:

        def answer(seen: Seen) -> Reply:
            out = io.BytesIO()
            RESULT.save(out, "PNG")
            body = {"created": 1, "data": [{"b64_json": base64.b64encode(out.getvalue()).decode()}]}
            return Reply(
                body=json.dumps(body).encode(), headers={"content-type": "application/json"}
            )

        server.route("/v1/images/edits", answer)
        yield server


@pytest.fixture(scope="module")
def gateway(
    upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningGateway]:
    """One real gateway for this module: gpt-image-2 goes to ``upstream``, ``offline`` to the
    local carrier; image URLs on 127.0.0.1 (only) may be fetched."""
    tmp = tmp_path_factory.mktemp("gateway")
    data = base_config(tmp)
    data["carriers"][0]["base_url"] = upstream.url("/v1")
    data["fetch"] = {"allow": ["127.0.0.1/32"]}
    running = start_gateway(write_config(tmp, data), tmp / "gateway.log")
    yield running
    stop_gateway(running)


def test_sdk_multi_image_edit_with_a_mask_through_the_local_carrier(
    gateway: RunningGateway, tmp_path: Path
) -> None:
    first, second = tmp_path / "room.png", tmp_path / "lamp.jpg"
    first.write_bytes(picture((200, 40, 40)))
    second.write_bytes(picture((40, 200, 40), "JPEG"))
    with first.open("rb") as f1, second.open("rb") as f2:
        result = sdk(gateway).images.edit(
            model="offline", image=[f1, f2], mask=mask_png(), prompt="add a lamp",
            size="1024x1024",
        )  # fmt: skip
    assert result.data is not None and result.data[0].url is not None
    edited = fetch_picture(result.data[0].url).convert("RGB")
    assert edited.size == (1024, 1024)
    assert edited.getpixel((1000, 20)) == (200, 40, 40)  # the unmasked half is the first image


def test_sdk_edit_with_raw_bytes(gateway: RunningGateway) -> None:
    result = sdk(gateway).images.edit(
        model="offline", image=picture((40, 40, 200), "WEBP"), prompt="a hat",
        response_format="b64_json", size="1536x1024",
    )  # fmt: skip
    assert result.data is not None and result.data[0].b64_json is not None
    edited = Image.open(io.BytesIO(base64.b64decode(result.data[0].b64_json)))
    assert edited.size == (1536, 1024)


def test_sdk_bad_edits_are_openai_errors(gateway: RunningGateway) -> None:
    client = sdk(gateway)
    with pytest.raises(openai.BadRequestError) as info:
        client.images.edit(image=[picture((1, 2, 3)), b"not an image"], prompt="x")
    assert (info.value.param, info.value.code) == ("image[1]", "unsupported_file_mimetype")
    with pytest.raises(openai.BadRequestError) as mask_error:
        client.images.edit(image=picture((1, 2, 3)), mask=picture((0, 0, 0)), prompt="x")
    assert (mask_error.value.param, mask_error.value.code) == ("mask", "invalid_value")


def test_sdk_multi_image_edit_through_an_openai_compatible_upstream(
    gateway: RunningGateway, upstream: FakeUpstream, tmp_path: Path
) -> None:
    images = [picture((i * 15, 100, 200), ("PNG", "JPEG", "WEBP")[i % 3]) for i in range(16)]
    named = tmp_path / "first.png"
    named.write_bytes(images[0])
    with named.open("rb") as first:
        result = sdk(gateway).images.edit(
            model="gpt-image-2", image=[first, *images[1:]], mask=mask_png(), prompt="add a lamp",
            quality="high", input_fidelity="high",
        )  # fmt: skip
    assert result.data is not None and result.data[0].url is not None
    assert fetch_picture(result.data[0].url).size == (16, 16)
    seen = upstream.requests[-1]
    assert seen.headers["authorization"].startswith("Bearer sk-test-")
    parts = parse_multipart(seen.headers["content-type"], seen.body)
    fields = {p.name: p.text for p in parts if p.filename is None}
    assert fields == {"model": "upstream-gpt-image-2", "prompt": "add a lamp", "n": "1",
                      "quality": "high"}  # fmt: skip
    files = [p for p in parts if p.filename is not None]
    assert [p.name for p in files] == ["image[]"] * 16 + ["mask"]
    assert [p.data for p in files[:16]] == images, "every image, in order"
    assert files[0].filename == "first.png"
    assert [p.filename for p in files[1:4]] == ["image_1.jpeg", "image_2.webp", "image_3.png"]
    assert [p.content_type for p in files[:3]] == ["image/png", "image/jpeg", "image/webp"]
    assert (files[16].content_type, files[16].data) == ("image/png", mask_png())


def test_json_edit_with_an_allow_listed_url_through_an_upstream(
    gateway: RunningGateway, upstream: FakeUpstream
) -> None:
    upstream.route("/assets/cat.jpg", Reply(body=picture((9, 9, 9), "JPEG")))
    response = httpx.post(
        f"{gateway.url}/v1/images/edits",
        json={
            "model": "gpt-image-2",
            "prompt": "a hat",
            "images": [{"image_url": upstream.url("/assets/cat.jpg")}],
        },  # fmt: skip
        timeout=30,
    )
    assert response.status_code == 200, response.text
    parts = parse_multipart(
        upstream.requests[-1].headers["content-type"], upstream.requests[-1].body
    )
    image = next(p for p in parts if p.name == "image")
    assert (image.filename, image.content_type) == ("cat.jpg", "image/jpeg")
    assert image.data == picture((9, 9, 9), "JPEG")


@pytest.mark.parametrize("host", ["::1", "127.0.0.2"])
def test_json_edit_urls_to_addresses_off_the_allow_list_are_refused(
    gateway: RunningGateway, host: str
) -> None:
    with fake_upstream(host) as target:
        target.route("/cat.png", Reply(body=picture((1, 1, 1))))
        response = httpx.post(
            f"{gateway.url}/v1/images/edits",
            json={"model": "offline", "prompt": "a hat", "image": target.url("/cat.png")},
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_image_url"
        assert target.connections == 0


def test_sdk_streams_an_edit(gateway: RunningGateway, tmp_path: Path) -> None:
    source = tmp_path / "room.png"
    source.write_bytes(picture((200, 40, 40)))
    with source.open("rb") as image:
        events = list(
            sdk(gateway).images.edit(
                model="offline",
                image=image,
                mask=mask_png(),
                prompt="add a lamp",
                size="1024x1024",
                stream=True,
                partial_images=2,
            )  # fmt: skip
        )
    assert [e.type for e in events] == [
        "image_edit.partial_image",
        "image_edit.partial_image",
        "image_edit.completed",
    ]
    final = events[-1].model_dump()
    edited = fetch_picture(final["url"]).convert("RGB")
    assert edited.size == (1024, 1024)
    assert edited.getpixel((1000, 20)) == (200, 40, 40)  # streamed edits keep the unmasked input
    assert Image.open(io.BytesIO(base64.b64decode(final["b64_json"]))).size == (1024, 1024)
