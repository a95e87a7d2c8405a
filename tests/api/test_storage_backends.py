"""The storage backend owns its URLs and whether the gateway serves its files; a storage
failure still leaves url clients with their images (as base64)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest
import respx

from app.config import StorageConfig
from app.domain import ImageFormat, StoredRef
from app.errors import StorageFailed
from app.storage import BACKENDS, Backend, LocalStorage, MintedUrl, new_image_id
from tests.support.app import serve_in_process
from tests.support.config import MakeConfig


class SignedStorage(LocalStorage):
    """Stands in for an object store: its own signed URLs, files not served by the gateway."""

    serves_files = False

    def __init__(self, config: StorageConfig) -> None:
        super().__init__(config.directory)
        self.base_urls: list[str] = []

    def url(self, ref: StoredRef, base_url: str, **policy: Any) -> MintedUrl:
        self.base_urls.append(base_url)
        return MintedUrl(f"https://bucket.example/{ref.filename}?X-Signature=sig-{ref.id[:6]}")


class MemoryStorage(LocalStorage):
    """Keeps images in a dict, never on disk: only the Storage interface can reach them."""

    serves_files = False

    def __init__(self, config: StorageConfig) -> None:
        super().__init__(config.directory)
        self.images: dict[str, bytes] = {}
        self.reads = 0

    async def put(self, data: bytes, fmt: ImageFormat) -> StoredRef:
        ref = StoredRef(new_image_id(), fmt, len(data))
        self.images[ref.filename] = data
        return ref

    async def read(self, ref: StoredRef) -> bytes:
        self.reads += 1
        return self.images[ref.filename]


class FullDisk(LocalStorage):
    def __init__(self, config: StorageConfig) -> None:
        super().__init__(config.directory)

    async def put(self, data: bytes, fmt: ImageFormat) -> StoredRef:
        raise StorageFailed("could not store the image (No space left on device)")


Serve = Callable[[Callable[[StorageConfig], LocalStorage]], Any]


@pytest.fixture
def backend(
    make_config: MakeConfig, upstream: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> Serve:
    """Serve the app with a storage backend registered and chosen as ``storage.backend``."""

    @asynccontextmanager
    async def serve(
        kind: Callable[[StorageConfig], LocalStorage],
    ) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
        made: list[LocalStorage] = []

        def factory(config: StorageConfig) -> LocalStorage:
            made.append(kind(config))
            return made[-1]

        monkeypatch.setitem(BACKENDS, "under-test", Backend(factory))
        config = make_config(lambda data: data["storage"].update(backend="under-test"))
        async with serve_in_process(config) as client:
            yield client, made[0]

    return serve


def completed_event(stream_text: str) -> dict[str, Any]:
    for frame in stream_text.split("\n\n"):
        if frame.startswith("event: image_generation.completed\n"):
            data: dict[str, Any] = orjson.loads(frame.partition("\ndata: ")[2])
            return data
    raise AssertionError(f"no completed event in {stream_text!r}")


async def poll_result(client: httpx.AsyncClient, status_url: str) -> dict[str, Any]:
    for _ in range(200):
        body: dict[str, Any] = (await client.get(status_url)).json()
        if body["status"] == "succeeded":
            return body
        await asyncio.sleep(0.02)
    raise AssertionError(f"the job never succeeded: {body}")


async def test_answers_carry_the_urls_the_storage_mints(backend: Serve) -> None:
    async with backend(SignedStorage) as (client, storage):
        body = {"model": "offline", "prompt": "a kite"}
        plain = await client.post("/v1/images/generations", json=body)
        streamed = await client.post("/v1/images/generations", json={**body, "stream": True})
        accepted = await client.post(
            "/v1/images/generations", json=body, headers={"prefer": "respond-async"}
        )
        job = await poll_result(client, accepted.json()["status_url"])
        name = plain.json()["data"][0]["url"].partition("?")[0].rpartition("/")[2]
        on_disk = await storage.find(name)
        served_here = await client.get(f"/images/{name}")
    urls = [
        plain.json()["data"][0]["url"],
        completed_event(streamed.text)["url"],
        job["result"]["data"][0]["url"],
    ]
    for url in urls:
        assert url.startswith("https://bucket.example/") and "?X-Signature=sig-" in url
    assert len(set(urls)) == 3
    assert storage.base_urls == ["http://gateway.test"] * 3
    assert on_disk is not None and served_here.status_code == 404  # stored, but not served here


async def test_a_storage_failure_answers_url_clients_with_base64(backend: Serve) -> None:
    async with backend(FullDisk) as (client, _):
        body = {"model": "offline", "prompt": "a kite"}
        as_url = await client.post("/v1/images/generations", json=body)
        as_b64 = await client.post(
            "/v1/images/generations", json={**body, "response_format": "b64_json"}
        )
    assert as_url.status_code == 200
    [item] = as_url.json()["data"]
    assert "url" not in item
    assert base64.b64decode(item["b64_json"]).startswith(b"\x89PNG")
    assert (
        as_b64.status_code == 200
    )  # storage faults lose nothing (tests/api/test_storage_faults.py)
    assert as_b64.json()["data"][0]["stored"] is False


async def test_a_base64_replay_reads_the_image_back_through_the_storage(backend: Serve) -> None:
    async with backend(MemoryStorage) as (client, storage):
        body = {"model": "offline", "prompt": "a kite", "response_format": "b64_json"}
        key = {"idempotency-key": "k1"}
        first = await client.post("/v1/images/generations", json=body, headers=key)
        replay = await client.post("/v1/images/generations", json=body, headers=key)
    assert replay.headers["x-imagegate-idempotent-replay"] == "true"
    assert replay.json()["data"] == first.json()["data"]
    [stored] = storage.images.values()
    assert base64.b64decode(replay.json()["data"][0]["b64_json"]) == stored
    assert storage.reads == 1
