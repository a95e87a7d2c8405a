"""Admin keys: who may use ``/admin/v1``. They come from ``auth.admin_keys`` and
``IMAGEGATE_ADMIN_KEY`` (``app.config.settings.admin_keys``), never from the database, and are
compared in constant time: every configured key is compared, by digest (equal lengths), so
neither the time nor the answer says how close a guess came."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable


class AdminKeys:
    def __init__(self, secrets: Iterable[str]) -> None:
        self._digests = tuple(_digest(secret) for secret in secrets if secret)

    @property
    def configured(self) -> bool:
        return bool(self._digests)

    def check(self, presented: str) -> bool:
        digest = _digest(presented)
        matched = False
        for known in self._digests:
            matched |= hmac.compare_digest(digest, known)
        return matched


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()
