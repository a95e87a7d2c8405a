"""The storage interface. Image ids are 128 random bits, URL-safe base64 (22 characters)."""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Protocol

from app.domain import ImageFormat

_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")


def new_image_id() -> str:
    return secrets.token_urlsafe(16)


def valid_image_id(image_id: str) -> bool:
    return _ID.match(image_id) is not None


class Storage(Protocol):
    """Keeps image bytes under an unguessable id; images are immutable once stored."""

    def save(self, data: bytes, fmt: ImageFormat) -> str:
        """Store ``data`` and return its new id. Blocking: call it from a worker thread."""
        ...

    def locate(self, image_id: str, fmt: ImageFormat) -> Path | None:
        """The file holding an image, or None when there is no such image."""
        ...
