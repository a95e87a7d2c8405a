"""Client keys: the :class:`KeyStore` protocol and the store of keys listed in the config.

A key is never kept or compared in the clear beyond this module: the config keys are compared
in constant time, and a principal's id is derived from a hash of the key (never the key).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from typing import Protocol

from app.domain import Principal

ANONYMOUS = Principal(id="open", name="open")


class KeyStore(Protocol):
    @property
    def open(self) -> bool:
        """True when the gateway has no keys at all (every caller is anonymous)."""
        ...

    @property
    def anonymous(self) -> Principal: ...

    def authenticate(self, secret: str) -> Principal | None:
        """The principal a presented secret belongs to, or None."""
        ...


class ConfigKeys:
    """The keys of ``auth.keys`` (and ``IMAGEGATE_API_KEY``): named keys with the default
    policy, named after the first characters of their hash."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._keys = tuple(secret.encode() for secret in secrets)
        self.anonymous = ANONYMOUS

    @property
    def open(self) -> bool:
        return not self._keys

    def authenticate(self, secret: str) -> Principal | None:
        presented = secret.encode()
        matched = [hmac.compare_digest(presented, key) for key in self._keys]
        if not any(matched):
            return None
        key_id = "key_" + hashlib.sha256(presented).hexdigest()[:16]
        return Principal(id=key_id, name=key_id)
