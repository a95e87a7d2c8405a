"""Where generated images live. ``make_storage`` picks the backend named by ``storage.backend``
from ``BACKENDS``; a new backend is a module here plus one row there."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.config import ConfigError
from app.config.storage import StorageConfig
from app.storage.base import ImageUrl, Storage, new_image_id, parse_filename, valid_image_id
from app.storage.local import LocalStorage
from app.storage.signing import signer_for
from app.storage.urls import GatewayLinks, LinkRefused, MintedUrl, UrlPolicy


@dataclass(frozen=True, slots=True)
class Backend:
    """How to build a backend, and which local directories it writes (checked at start)."""

    factory: Callable[[StorageConfig], Storage]
    directories: Callable[[StorageConfig], tuple[Path, ...]] = lambda config: ()


def gateway_links(config: StorageConfig) -> GatewayLinks:
    """The deployment's URL policy and signing keys, for the gateway's own image URLs."""
    return GatewayLinks(signer_for(config), UrlPolicy(config.url_mode, config.url_ttl))


def _s3(config: StorageConfig) -> Storage:
    from app.storage.s3 import S3Storage  # obstore is loaded only when a deployment uses it

    try:
        return S3Storage(config, gateway_links(config))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


BACKENDS: dict[str, Backend] = {
    "local": Backend(
        factory=lambda config: LocalStorage(config.directory, gateway_links(config)),
        directories=lambda config: (config.directory,),
    ),
    "s3": Backend(factory=_s3),
}


def _backend(config: StorageConfig) -> Backend:
    backend = BACKENDS.get(config.backend)
    if backend is None:
        known = ", ".join(sorted(BACKENDS))
        raise ConfigError(f"storage.backend: unknown backend {config.backend!r} (known: {known})")
    return backend


def make_storage(config: StorageConfig) -> Storage:
    return _backend(config).factory(config)


def local_directories(config: StorageConfig) -> tuple[Path, ...]:
    """The directories the configured backend writes on this machine (none for S3)."""
    return _backend(config).directories(config)


__all__ = [
    "BACKENDS",
    "Backend",
    "GatewayLinks",
    "ImageUrl",
    "LinkRefused",
    "LocalStorage",
    "MintedUrl",
    "UrlPolicy",
    "gateway_links",
    "parse_filename",
    "local_directories",
    "Storage",
    "make_storage",
    "new_image_id",
    "valid_image_id",
]
