"""Long data URIs of a JSON edit are decoded into the spool as the body streams in; the rest of
the body becomes a small skeleton that parses as the same JSON with placeholders."""

from __future__ import annotations

import base64
import os

import orjson
import pytest

from app.inputs.data_uris import INLINE_LIMIT, DataUriExtractor
from app.inputs.spool import Spool

PAYLOAD = os.urandom(100_000)
B64 = base64.b64encode(PAYLOAD).decode()


async def extract(body: bytes, piece: int) -> tuple[dict, DataUriExtractor, Spool]:
    spool = Spool(threshold=64 * 1024)
    extractor = DataUriExtractor(spool, 1 << 20)
    for start in range(0, len(body), piece):
        await extractor.feed(body[start : start + piece])
    assert not extractor.in_string
    return orjson.loads(extractor.skeleton), extractor, spool


def blob_bytes(extractor: DataUriExtractor, key: str) -> bytes:
    image = extractor.images[key]
    assert image.blob is not None and image.problem is None
    with image.blob.open() as stream:
        return stream.read()


@pytest.mark.parametrize("piece", [3, 7, 4096, 65536, 10_000_000])
async def test_a_long_data_uri_goes_to_the_spool_in_any_chunking(piece: int) -> None:
    short = "data:image/png;base64,iVBORw0KGgo="
    body = orjson.dumps({
        "prompt": 'a "quoted" \\ prompt é',
        "images": [{"image_url": f"data:image/png;base64,{B64}"}, {"image_url": short}],
        "mask": {"image_url": {"url": f"DATA:image/png;base64,{B64[:len(B64) // 2]}"}},
    })  # fmt: skip
    data, extractor, spool = await extract(body, piece)
    with spool:
        first = data["images"][0]["image_url"]
        mask = data["mask"]["image_url"]["url"]
        assert data["prompt"] == 'a "quoted" \\ prompt é'
        assert data["images"][1]["image_url"] == short  # short ones stay where they were
        assert set(extractor.images) == {first, mask}
        assert first.startswith("data:imagegate/spooled;")
        assert blob_bytes(extractor, first) == PAYLOAD
        assert blob_bytes(extractor, mask) == base64.b64decode(B64[: len(B64) // 2])
        assert len(extractor.skeleton) < 500


async def test_json_escapes_and_line_breaks_inside_base64_are_understood() -> None:
    wrapped = "\n".join(B64[i : i + 76] for i in range(0, len(B64), 76))
    text = orjson.dumps({"image": f"data:image\\/png;base64,{wrapped}"}).decode()
    text = text.replace("/", "\\/").replace("+", "\\u002B")
    data, extractor, spool = await extract(text.encode(), 1000)
    with spool:
        assert blob_bytes(extractor, data["image"]) == PAYLOAD


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        (f"data:image/png,{B64}", "only base64 data URIs"),
        ("data:image/png;base64," + B64[:100] + "*" + B64[100:], "not valid base64"),
        ("data:image/png;base64," + B64[:100] + "==" + B64[100:], "not valid base64"),
        ("data:" + "x" * INLINE_LIMIT, "only base64 data URIs"),
    ],
)
async def test_a_long_data_uri_that_is_not_base64_is_reported_not_decoded(
    uri: str, problem: str
) -> None:
    data, extractor, spool = await extract(orjson.dumps({"image": uri, "n": 1}), 8192)
    with spool:
        assert data["n"] == 1
        image = extractor.images[data["image"]]
        assert image.blob is None and image.problem is not None and problem in image.problem


async def test_unpadded_base64_is_accepted_and_the_skeleton_stays_small() -> None:
    payload = os.urandom(1_000_001)
    uri = "data:image/png;base64," + base64.b64encode(payload).decode().rstrip("=")
    data, extractor, spool = await extract(orjson.dumps({"image": uri}), 65536)
    with spool:
        assert blob_bytes(extractor, data["image"]) == payload
        assert len(extractor.skeleton) < 100
        assert spool.open_files == 1  # past the spool's threshold: on disk, not in memory
