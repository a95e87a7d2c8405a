"""Re-hosting decides what raw base64 from a carrier becomes: decoded and stored for URL
clients, passed on as text for base64 clients (or when a stream's completed event needs it)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from app.config import FetchConfig, StorageConfig
from app.domain import UpstreamImage
from app.inputs.fetch import SafeFetcher
from app.run.rehost import NotAnImage, Rehoster
from app.storage.local import LocalStorage
from tests.support.images import padded_png

PNG = padded_png(2048, bytes(range(256)))
TEXT = base64.b64encode(PNG).decode()


def raw(text: str) -> UpstreamImage:
    """What the openai carrier hands over: a view of the body's bytes."""
    body = b'{"b64_json": "' + text.encode() + b'"}'
    return UpstreamImage(b64=memoryview(body)[14 : 14 + len(text)])


@pytest.fixture
def rehoster(tmp_path: Path) -> Rehoster:
    return Rehoster(LocalStorage(tmp_path), SafeFetcher(FetchConfig()), StorageConfig())


def stored_bytes(tmp_path: Path, image_id: str | None) -> bytes:
    assert image_id is not None
    return (tmp_path / image_id[:2] / f"{image_id}.png").read_bytes()


@pytest.mark.parametrize("text", [TEXT, TEXT.rstrip("=")])
async def test_url_clients_get_the_decoded_image_stored_and_no_text(
    rehoster: Rehoster, tmp_path: Path, text: str
) -> None:
    kept = await rehoster.keep(raw(text), "url")
    assert kept.b64 is None and kept.byte_size == len(PNG)
    assert stored_bytes(tmp_path, kept.id) == PNG


@pytest.mark.parametrize("response_format", ["b64_json", "b64_ephemeral"])
async def test_base64_clients_get_the_text(rehoster: Rehoster, response_format: Any) -> None:
    kept = await rehoster.keep(raw(TEXT), response_format)
    assert kept.b64 == TEXT and kept.format == "png"
    assert (kept.id is None) == (response_format == "b64_ephemeral")


async def test_keep_b64_hands_the_text_to_a_url_client_and_stores_the_image(
    rehoster: Rehoster, tmp_path: Path
) -> None:
    kept = await rehoster.keep(raw(TEXT), "url", keep_b64=True)
    assert kept.b64 == TEXT
    assert stored_bytes(tmp_path, kept.id) == PNG
    plain = await rehoster.keep(UpstreamImage(b64=TEXT), "url", keep_b64=True)
    assert plain.b64 is TEXT


@pytest.mark.parametrize("response_format", ["url", "b64_json", "b64_ephemeral"])
async def test_bytes_that_are_not_ascii_are_no_image(
    rehoster: Rehoster, response_format: Any
) -> None:
    body = TEXT.encode()[:-8] + "éé".encode() + b"AAAA"
    with pytest.raises(NotAnImage):
        await rehoster.keep(UpstreamImage(b64=memoryview(body)), response_format)
