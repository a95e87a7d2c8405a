"""The page cursor of image lists: where the last page ended (its last image's ``created_at``
and id, the keyset the lists are ordered by), opaque to clients.

It is bound to the list it came from (the owner or filter, ``scope``) by a check value, so a
cursor that was edited, truncated, or taken from another key's list is refused with a 400
naming ``cursor`` instead of silently starting somewhere else. The check is not a secret: it
catches tampering and mix-ups, while who sees what is decided by the query itself.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta

from app.errors import InvalidRequest

_CHECK = 8  # bytes of SHA-256 in front of the position
_POSITION = re.compile(r"^(\d{1,19}):([A-Za-z0-9_-]{1,40})$")
_MAX_LENGTH = 200
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def encode(created: datetime, image_id: str, scope: str) -> str:
    micros = (created - _EPOCH) // timedelta(microseconds=1)
    position = f"{micros}:{image_id}".encode()
    raw = _check(scope, position) + position
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str, scope: str) -> tuple[datetime, str]:
    """The position a cursor of this list points after; ``InvalidRequest`` otherwise."""
    try:
        if len(cursor) > _MAX_LENGTH:
            raise ValueError
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        check, position = raw[:_CHECK], raw[_CHECK:]
        if not hmac.compare_digest(check, _check(scope, position)):
            raise ValueError
        found = _POSITION.match(position.decode("ascii"))
        if found is None:
            raise ValueError
        created = _EPOCH + timedelta(microseconds=int(found[1]))
    except (ValueError, binascii.Error, OverflowError):
        raise InvalidRequest(
            "This cursor is not one this list handed out: pass the next_cursor of the "
            "previous page unchanged, with the same filters.",
            param="cursor",
        ) from None
    return created, found[2]


def _check(scope: str, position: bytes) -> bytes:
    return hashlib.sha256(scope.encode() + b"\x00" + position).digest()[:_CHECK]
