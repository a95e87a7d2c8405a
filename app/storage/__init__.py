"""Where generated images live. ``make_storage`` picks the backend named by ``storage.backend``
from ``BACKENDS``; a new backend is a module here plus one row there."""

from __future__ import annotations

from collections.abc import Callable

from app.config import ConfigError
from app.config.schema import StorageConfig
from app.storage.base import ImageUrl, Storage, new_image_id, valid_image_id
from app.storage.local import LocalStorage


def _local(config: StorageConfig) -> Storage:
    return LocalStorage(config.directory)


BACKENDS: dict[str, Callable[[StorageConfig], Storage]] = {"local": _local}


def make_storage(config: StorageConfig) -> Storage:
    backend = BACKENDS.get(config.backend)
    if backend is None:
        known = ", ".join(sorted(BACKENDS))
        raise ConfigError(f"storage.backend: unknown backend {config.backend!r} (known: {known})")
    return backend(config)


__all__ = [
    "BACKENDS",
    "ImageUrl",
    "LocalStorage",
    "Storage",
    "make_storage",
    "new_image_id",
    "valid_image_id",
]
