"""Images in an S3-compatible object store (AWS S3, Cloudflare R2, MinIO, ...), through obstore.

Why obstore: measured by ``bench/s3_clients.py`` (3 MB objects into a loopback S3 server, the
client process's CPU per upload): obstore 1.0 ms with an unsigned payload (3.0 ms when it
hashes the body for the signature), aiobotocore 6.7 ms. The payload is sent unsigned (TLS
protects it on the way; S3 still checks what it received), from memory, without a copy; objects
above ``multipart_threshold`` go up in parts.

Objects live at ``<prefix><id>.<format>``: the same file names as the local disk, so
``imagegate storage migrate --to s3`` keeps every ``/images/<id>.<fmt>`` URL working. Every call
is bounded (``storage.timeout`` each, ``storage.put_deadline`` for a store with its retries);
any failure is ``StorageFailed``, which answers the image as base64 instead of losing it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import TYPE_CHECKING

import obstore
from obstore.exceptions import NotFoundError
from obstore.store import S3Store

from app.config.storage import StorageConfig, UrlMode
from app.domain import MEDIA_TYPES, ImageFormat, StoredRef
from app.errors import StorageFailed
from app.storage.base import new_image_id, parse_filename
from app.storage.urls import GatewayLinks, MintedUrl

if TYPE_CHECKING:
    from obstore.store import ClientConfig, RetryConfig, S3Config

# Presigned S3 URLs cannot outlive this; longer expiries use signed gateway URLs that redirect.
PRESIGN_MAX = 7 * 86400.0
# How long the presigned URL a gateway link redirects to lives.
REDIRECT_TTL = 3600.0
_CHUNK = 1024 * 1024


def make_store(config: StorageConfig) -> S3Store:
    """The obstore client for ``config`` (credentials from the standard AWS variables)."""
    if not config.bucket:
        raise ValueError("storage.bucket is required with storage.backend: s3")
    path_style = config.path_style if config.path_style is not None else bool(config.endpoint_url)
    settings: S3Config = {
        "region": config.region,
        "virtual_hosted_style_request": not path_style,
        "unsigned_payload": True,
    }
    if config.endpoint_url:
        settings["endpoint"] = config.endpoint_url
    client: ClientConfig = {
        "allow_http": True,
        "timeout": timedelta(seconds=config.timeout),
        "connect_timeout": timedelta(seconds=min(config.timeout, 5.0)),
    }
    retry: RetryConfig = {
        "max_retries": 3,
        "retry_timeout": timedelta(seconds=config.put_deadline),
        "backoff": {
            "init_backoff": timedelta(milliseconds=100),
            "max_backoff": timedelta(seconds=2),
            "base": 2,
        },
    }
    return S3Store(config.bucket, config=settings, client_options=client, retry_config=retry)


class S3Storage:
    serves_files = True  # signed redirects, proxied and migrated URLs go through the gateway

    def __init__(self, config: StorageConfig, links: GatewayLinks) -> None:
        self.links = links
        self.store = make_store(config)
        self.prefix = config.prefix
        self._multipart = config.multipart_threshold
        self._timeout = config.timeout
        self._put_deadline = config.put_deadline
        self._public = config.bucket_public_url or _bucket_url(config)

    async def put(self, data: bytes, fmt: ImageFormat) -> StoredRef:
        ref = StoredRef(new_image_id(), fmt, len(data))
        await self.upload(ref, data)
        return ref

    async def upload(self, ref: StoredRef, data: bytes) -> None:
        """Store ``data`` as ``ref``'s object (also used by the migration)."""
        multipart = len(data) > self._multipart
        try:
            async with asyncio.timeout(self._put_deadline):
                await obstore.put_async(
                    self.store,
                    self.key(ref),
                    data,
                    attributes={"Content-Type": MEDIA_TYPES[ref.format]},
                    use_multipart=multipart,
                    chunk_size=min(self._multipart, 8 * _CHUNK),
                    max_concurrency=4,
                )
        except TimeoutError:
            raise StorageFailed("could not store the image (the object store timed out)") from None
        except Exception as exc:
            raise StorageFailed(f"could not store the image ({type(exc).__name__})") from None

    async def read(self, ref: StoredRef) -> bytes:
        try:
            async with asyncio.timeout(self._timeout):
                result = await obstore.get_async(self.store, self.key(ref))
                return (await result.bytes_async()).to_bytes()
        except Exception as exc:
            raise StorageFailed(f"could not read the image ({type(exc).__name__})") from None

    async def find(self, filename: str) -> StoredRef | None:
        ref = parse_filename(filename)
        if ref is None:
            return None
        try:
            async with asyncio.timeout(self._timeout):
                meta = await obstore.head_async(self.store, self.key(ref))
        except (NotFoundError, FileNotFoundError):
            return None
        except Exception as exc:
            raise StorageFailed(f"could not look the image up ({type(exc).__name__})") from None
        return StoredRef(ref.id, ref.format, meta["size"])

    async def stream(self, ref: StoredRef, start: int, stop: int) -> AsyncIterator[bytes]:
        if start >= stop:
            return
        try:
            async with asyncio.timeout(self._timeout):
                result = await obstore.get_async(
                    self.store, self.key(ref), options={"range": (start, stop)}
                )
        except Exception as exc:
            raise StorageFailed(f"could not read the image ({type(exc).__name__})") from None
        async for chunk in result.stream(min_chunk_size=_CHUNK):
            yield bytes(chunk)

    async def delete(self, ref: StoredRef) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await obstore.delete_async(self.store, self.key(ref))
        except (NotFoundError, FileNotFoundError):
            pass
        except Exception as exc:
            raise StorageFailed(f"could not delete the image ({type(exc).__name__})") from None

    async def health(self) -> None:
        """The bucket answers a listing (of a prefix that holds nothing): reachable, exists,
        and these credentials may read it."""
        await obstore.list_with_delimiter_async(self.store, f"{self.prefix}.imagegate-health/")

    def url(
        self,
        ref: StoredRef,
        base_url: str,
        *,
        mode: UrlMode | None = None,
        ttl: float | None = None,
    ) -> MintedUrl:
        policy = self.links.policy
        mode = mode or policy.mode
        if mode == "public":
            return MintedUrl(f"{self._public}/{self.key(ref)}")
        if mode == "proxy":
            return self.links.plain(ref.filename, base_url)
        ttl = ttl or policy.ttl
        if ttl > PRESIGN_MAX:  # S3 refuses longer: the gateway signs, and redirects when used
            return self.links.signed(ref.filename, base_url, ttl)
        expires = int(self.links.clock() + ttl)
        return MintedUrl(self.presign(ref, ttl), expires)

    def presign(self, ref: StoredRef, ttl: float) -> str:
        return obstore.sign(self.store, "GET", self.key(ref), timedelta(seconds=int(ttl)))

    def redirect(self, ref: StoredRef) -> str | None:
        if self.links.policy.mode == "proxy":
            return None
        return self.presign(ref, REDIRECT_TTL)

    def key(self, ref: StoredRef) -> str:
        return f"{self.prefix}{ref.filename}"


def _bucket_url(config: StorageConfig) -> str:
    if config.endpoint_url:
        return f"{config.endpoint_url}/{config.bucket}"
    return f"https://{config.bucket}.s3.{config.region}.amazonaws.com"
