"""Client keys: the :class:`KeyStore` protocol, the keys listed in the config, and the store the
gateway uses: config keys first, then the database's (``app.access.db_keys``).

A key is never kept or compared in the clear beyond this module: the config keys are compared
in constant time, and a principal's id is derived from a hash of the key (never the key).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

from app.domain import Principal

if TYPE_CHECKING:  # the database layer is loaded only when there is a database
    from app.access.db_keys import DbKeys

ANONYMOUS = Principal(id="open", name="open")


class KeyStore(Protocol):
    @property
    def anonymous(self) -> Principal: ...

    async def is_open(self) -> bool:
        """True when the gateway has no keys at all (every caller is anonymous)."""
        ...

    async def authenticate(self, secret: str) -> Principal | None:
        """The principal a presented secret belongs to, or None. The principal may have
        expired: ``app.access.policy.check`` decides that, on every request."""
        ...


class ConfigKeys:
    """The keys of ``auth.keys`` (and ``IMAGEGATE_API_KEY``): named keys with the default
    policy, named after the first characters of their hash."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._keys = tuple(secret.encode() for secret in secrets)
        self.anonymous = ANONYMOUS

    async def is_open(self) -> bool:
        return not self._keys

    async def authenticate(self, secret: str) -> Principal | None:
        return self.find(secret)

    def find(self, secret: str) -> Principal | None:
        presented = secret.encode()
        matched = [hmac.compare_digest(presented, key) for key in self._keys]
        if not any(matched):
            return None
        key_id = "key_" + hashlib.sha256(presented).hexdigest()[:16]
        return Principal(id=key_id, name=key_id)


class GatewayKeys:
    """Config keys, then database keys; open only when there are neither."""

    def __init__(self, config: ConfigKeys, database: DbKeys | None) -> None:
        self._config = config
        self._database = database
        self.anonymous = ANONYMOUS

    async def is_open(self) -> bool:
        if not await self._config.is_open():
            return False
        return self._database is None or not await self._database.any_key()

    async def authenticate(self, secret: str) -> Principal | None:
        principal = self._config.find(secret)
        if principal is None and self._database is not None:
            principal = await self._database.authenticate(secret)
        return principal
