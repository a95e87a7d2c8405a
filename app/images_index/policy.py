"""How long a caller's images are kept and how their URLs are minted: the key's own setting,
else its team's (``Principal.retention`` and ``url_mode`` carry the first that is set), else
the deployment's ``storage.retention`` and ``storage.url_mode``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from app.domain import Principal

UrlMode = Literal["public", "signed", "proxy"]
URL_MODES: tuple[UrlMode, ...] = ("public", "signed", "proxy")
MAX_RETENTION = 100 * 365 * 86_400  # seconds; a longer retention is kept this long (a century)


def retention_seconds(own: float | None, deployment: float) -> float:
    """Seconds an image is kept (0: forever): the key's or team's, else the deployment's."""
    return deployment if own is None else own


def expiry(created: datetime, own: float | None, deployment: float) -> datetime | None:
    """When an image made at ``created`` expires; None when it is kept forever."""
    seconds = retention_seconds(own, deployment)
    if seconds <= 0:
        return None
    return created + timedelta(seconds=min(seconds, MAX_RETENTION))  # never past year 9999


def url_mode_of(principal: Principal) -> UrlMode | None:
    """The URL mode for this caller's images (``public``, ``signed`` or ``proxy``) set on its
    key or team, or None for the deployment's ``storage.url_mode``. URL minting reads this."""
    mode = principal.url_mode
    return mode if mode in URL_MODES else None
