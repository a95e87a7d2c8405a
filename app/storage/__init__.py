"""Where generated images live. ``make_storage`` picks the backend named by ``storage.backend``
from ``BACKENDS``; a new backend is a module here plus one row there."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.config import ConfigError
from app.config.schema import StorageConfig
from app.storage.base import ImageUrl, Storage, new_image_id, valid_image_id
from app.storage.local import LocalStorage


@dataclass(frozen=True, slots=True)
class Backend:
    """How to build a backend, and which local directories it writes (checked at start)."""

    factory: Callable[[StorageConfig], Storage]
    directories: Callable[[StorageConfig], tuple[Path, ...]] = lambda config: ()


BACKENDS: dict[str, Backend] = {
    "local": Backend(
        factory=lambda config: LocalStorage(config.directory),
        directories=lambda config: (config.directory,),
    ),
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
    "ImageUrl",
    "LocalStorage",
    "local_directories",
    "Storage",
    "make_storage",
    "new_image_id",
    "valid_image_id",
]
