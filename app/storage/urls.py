"""The URLs clients get for stored images, and the checks on the gateway's own ones.

``url_mode`` (per deployment; a caller may pass another per key):

- ``public``: stable URLs that never expire (the gateway's ``/images/...``, or the bucket's or
  CDN's own URL for an object store);
- ``signed``: expiring URLs, ``url_ttl`` seconds from now: the gateway's ``/images/...`` with
  ``?expires=<unix>&sig=<hmac>``, or an object store's presigned GET;
- ``proxy``: the gateway's ``/images/...``, streamed by the gateway from wherever it lives.

A minted URL carries its expiry (Unix seconds, None for a URL that does not expire), which
answers report as ``expires_at``. Minting a signed gateway URL is one HMAC: about a microsecond.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from app.config.storage import UrlMode
from app.errors import PermissionDenied
from app.storage.signing import Signer

_EXPIRES = re.compile(r"^[0-9]{1,12}$")
_SIG = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Where the gateway serves stored images: ``{base_url}/images/<id>.<format>``.
SERVED_UNDER = "/images"


def wall_clock() -> float:
    return time.time()


class MintedUrl(NamedTuple):
    """Where a client fetches an image, and until when (Unix seconds; None: no expiry)."""

    url: str
    expires_at: int | None = None


class LinkRefused(PermissionDenied):
    """A gateway image URL whose signature is missing, wrong or expired (403)."""

    code = "invalid_signature"


@dataclass(frozen=True, slots=True)
class UrlPolicy:
    mode: UrlMode
    ttl: float


class GatewayLinks:
    """Mints and checks the gateway's own image URLs."""

    def __init__(
        self, signer: Signer, policy: UrlPolicy, clock: Callable[[], float] | None = None
    ) -> None:
        self.signer = signer
        self.policy = policy
        self._clock = clock

    def clock(self) -> float:
        """Unix seconds now (``wall_clock``, looked up per call, unless a clock was given)."""
        return self._clock() if self._clock is not None else wall_clock()

    def plain(self, filename: str, base_url: str) -> MintedUrl:
        return MintedUrl(f"{base_url}{SERVED_UNDER}/{filename}")

    def signed(self, filename: str, base_url: str, ttl: float) -> MintedUrl:
        expires = int(self.clock() + ttl)
        sig = self.signer.sign(filename, expires)
        return MintedUrl(
            f"{base_url}{SERVED_UNDER}/{filename}?expires={expires}&sig={sig}", expires
        )

    def admit(self, filename: str, expires: str | None, sig: str | None) -> int | None:
        """Check a request for ``/images/<filename>``: a signed one must carry a valid,
        unexpired signature; an unsigned one is refused when the deployment signs its URLs.
        The expiry it was signed until (None: unsigned); ``LinkRefused`` otherwise."""
        if expires is None and sig is None:
            if self.policy.mode == "signed":
                raise LinkRefused("This image URL must be signed: ask for a new one.")
            return None
        if expires is None or sig is None or not _EXPIRES.match(expires) or not _SIG.match(sig):
            raise LinkRefused("This image URL's signature is invalid.")
        until = int(expires)
        if not self.signer.verify(filename, until, sig):
            raise LinkRefused("This image URL's signature is invalid.")
        if until < self.clock():
            raise LinkRefused("This image URL has expired: ask for a new one.")
        return until


def public_links() -> GatewayLinks:
    """Plain, unsigned links (a backend built without the deployment's policy: tools, tests)."""
    return GatewayLinks(Signer([secrets.token_bytes(32)]), UrlPolicy("public", 86400.0))
