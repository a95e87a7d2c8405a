"""Image URLs that point at this gateway itself: read from storage, never fetched.

An edit may reference an image this gateway handed out (``<base>/images/<id>.<ext>``). Fetching
it would go through the SSRF-safe fetcher, which refuses loopback and private addresses, so a
gateway on ``127.0.0.1`` could not edit its own images. The HTTP edge says which origins are
ours (:class:`OwnOrigins`: the request's ``Host``, the public base URL, loopback names on the
port the gateway listens on); a URL on one of them names a stored file directly. Any other host
is fetched as usual, even with the same path.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from app.storage.local import SERVED_UNDER

_FILE = re.compile(r"^[A-Za-z0-9_-]{22}\.(png|jpeg|webp)$")
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
_DEFAULT_PORTS = {"http": 80, "https": 443}

Origin = tuple[str, int]  # (lower-case host name or address, port)


@dataclass(frozen=True, slots=True)
class OwnOrigins:
    """Where clients reach this gateway, as seen by one request."""

    origins: frozenset[Origin] = frozenset()
    loopback_ports: frozenset[int] = frozenset()  # loopback names on these ports are ours too
    prefixes: frozenset[str] = frozenset({""})  # path before ``/images``: "" or the base's path


def origin_of(url: str) -> tuple[Origin, str] | None:
    """``((host, port), path)`` of an http(s) URL, or None when it is not one."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname or parts.username:
        return None
    host = parts.hostname.lower().rstrip(".")
    return (host, port or _DEFAULT_PORTS[parts.scheme.lower()]), parts.path


def own_file_name(url: str, own: OwnOrigins) -> str | None:
    """The stored file (``<id>.<ext>``) a URL on one of our own origins names, else None."""
    parsed = origin_of(url)
    if parsed is None:
        return None
    (host, port), path = parsed
    if (host, port) not in own.origins and not (port in own.loopback_ports and _is_loopback(host)):
        return None
    prefix, served, name = path.rpartition("/")
    if prefix.removesuffix(SERVED_UNDER) not in own.prefixes or not prefix.endswith(SERVED_UNDER):
        return None
    return name if served == "/" and _FILE.match(name) else None


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
