"""The official openai package against a real ``imagegate serve`` process (local carrier)."""

from __future__ import annotations

import io

import httpx
import openai
import pytest
from PIL import Image

from tests.support.gateway import RunningGateway, sdk


def test_readme_example_returns_a_served_1536x1024_png(offline_gateway: RunningGateway) -> None:
    client = sdk(offline_gateway)
    img = client.images.generate(
        model="gpt-image-2", prompt="a red fox", size="1536x1024", quality="hd"
    )
    assert img.data is not None and img.data[0].url is not None
    url = img.data[0].url
    assert url.startswith(f"{offline_gateway.url}/images/") and url.endswith(".png")
    assert (img.size, img.quality, img.output_format) == ("1536x1024", "high", "png")
    fetched = httpx.get(url)
    assert fetched.status_code == 200 and fetched.headers["content-type"] == "image/png"
    picture = Image.open(io.BytesIO(fetched.content))
    assert (picture.format, picture.size) == ("PNG", (1536, 1024))


def test_sdk_sees_openai_errors_without_retrying(offline_gateway: RunningGateway) -> None:
    client = sdk(offline_gateway)
    with pytest.raises(openai.BadRequestError) as info:
        client.images.generate(model="gpt-image-2", prompt="x", quality="standard")
    assert info.value.param == "quality"
    assert info.value.code == "invalid_value"
    assert info.value.response.headers["x-should-retry"] == "false"
    with pytest.raises(openai.NotFoundError) as missing:
        client.images.generate(model="no-such-model", prompt="x")
    assert missing.value.code == "model_not_found"


def test_sdk_base64_and_model_listing(offline_gateway: RunningGateway) -> None:
    client = sdk(offline_gateway)
    img = client.images.generate(model="offline", prompt="a tiny boat", response_format="b64_json",
                                 output_format="webp", size="1024x1024")  # fmt: skip
    assert img.data is not None and img.data[0].b64_json is not None
    import base64

    picture = Image.open(io.BytesIO(base64.b64decode(img.data[0].b64_json)))
    assert (picture.format, picture.size) == ("WEBP", (1024, 1024))
    ids = {model.id for model in client.models.list()}
    assert {"gpt-image-2", "gi2", "offline", "dall-e-3"} <= ids
    assert client.models.retrieve("gi2").id == "gi2"
