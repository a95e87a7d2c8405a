"""Data URIs decode in bounded slices; JSON edit shapes become image sources with their params."""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest

from app.api.forms import edit_from_json
from app.errors import InvalidRequest
from app.inputs.loader import Reference, decode_data_uri
from app.inputs.spool import Spool


async def decode(uri: str, max_bytes: int = 10**8) -> bytes:
    with Spool(threshold=1024) as spool:
        blob = await decode_data_uri(uri, "image", max_bytes, spool)
        with blob.open() as reader:
            return reader.read()


@pytest.mark.parametrize("size", [0, 1, 2, 3, 1000, 3 * 1024 * 1024 + 7])  # across slices
async def test_data_uris_decode_exactly(size: int) -> None:
    data = os.urandom(size)
    text = base64.b64encode(data).decode()
    assert await decode(f"data:image/png;base64,{text}") == data
    assert await decode(f"DATA:image/png;BASE64,{text.rstrip('=')}") == data  # no padding


async def test_line_broken_base64_is_fine() -> None:
    data = os.urandom(5 * 1024 * 1024)
    text = base64.encodebytes(data).decode()  # MIME style, a newline every 76 characters
    assert await decode(f"data:image/jpeg;base64,{text}") == data


@pytest.mark.parametrize(
    "uri",
    ["data:image/png,rawbytes", "data:image/png;base64,iVBOR!!!w0", "data:;base64,a",
     "data:image/png;base64,aGk=aGk=", "data:image/png;base64,\u00e9\u00e9\u00e9\u00e9"],
)  # fmt: skip
async def test_invalid_data_uris(uri: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        await decode(uri)
    assert (info.value.param, info.value.code) == ("image", "invalid_image_url")


async def test_the_size_cap_is_exact() -> None:
    data = os.urandom(3000)
    uri = f"data:image/png;base64,{base64.b64encode(data).decode()}"
    assert await decode(uri, max_bytes=3000) == data
    with pytest.raises(InvalidRequest) as info:
        await decode(uri, max_bytes=2999)
    assert info.value.code == "file_too_large"


@pytest.mark.parametrize(
    ("body", "params", "key"),
    [
        ({"images": [{"image_url": "https://a/1.png"}, {"image_url": "data:x"}]},
         ["images[0]", "images[1]"], "images"),
        ({"images": [{"image_url": {"url": "https://a/1.png"}}]}, ["images[0]"], "images"),
        ({"images": ["https://a/1.png"]}, ["images[0]"], "images"),
        ({"image": "https://a/1.png"}, ["image"], "image"),
        ({"image": ["https://a/1.png", "https://a/2.png"]}, ["image[0]", "image[1]"], "image"),
        ({"image": None}, [], "image"),
    ],
)  # fmt: skip
def test_json_shapes(body: dict[str, Any], params: list[str], key: str) -> None:
    edit = edit_from_json({"prompt": "p", "n": 2, **body})
    assert [source.param for source in edit.images] == params
    assert all(isinstance(source, Reference) for source in edit.images)
    assert (edit.params, edit.form, edit.images_key) == ({"prompt": "p", "n": 2}, "json", key)


@pytest.mark.parametrize(
    ("mask", "url"),
    [({"image_url": "https://a/m.png"}, "https://a/m.png"), ("https://a/m.png", "https://a/m.png"),
     (["https://a/m.png"], "https://a/m.png"), (None, None)],
)  # fmt: skip
def test_json_masks(mask: Any, url: str | None) -> None:
    edit = edit_from_json({"image": "https://a/1.png", "mask": mask})
    assert edit.mask == (Reference(url, "mask") if url else None)
