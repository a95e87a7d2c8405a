"""Where re-hosted images live. ``make_storage`` picks the backend from the config."""

from __future__ import annotations

from app.config.schema import StorageConfig
from app.storage.base import Storage, new_image_id, valid_image_id
from app.storage.local import LocalStorage


def make_storage(config: StorageConfig) -> Storage:
    return LocalStorage(config.directory)


__all__ = ["LocalStorage", "Storage", "make_storage", "new_image_id", "valid_image_id"]
