"""What a request says about how it wants to be served: the public base URL (trusted proxies
only), its ``Idempotency-Key``, the client's own timeout, ``Prefer: respond-async`` and the
JSON keep-alive header."""

from __future__ import annotations

import ipaddress
import re

from fastapi import Request

from app.config.schema import ServerConfig, StorageConfig
from app.errors import InvalidRequest
from app.inputs.own_urls import OwnOrigins, origin_of

KEEPALIVE_HEADER = "x-imagegate-keepalive"
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")


def public_base_url(request: Request, storage: StorageConfig, server: ServerConfig) -> str:
    """Where clients reach this gateway: configured, else the request's own scheme and host.

    ``X-Forwarded-Proto`` / ``X-Forwarded-Host`` are honoured only from trusted proxies.
    """
    if storage.public_base_url is not None:
        return storage.public_base_url
    scheme: str = request.scope.get("scheme", "http")  # request.url would build a whole URL
    host = request.headers.get("host", "")
    if _from_trusted_proxy(request, server):
        forwarded_proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip()
        forwarded_host = request.headers.get("x-forwarded-host", "").split(",")[0].strip()
        scheme = forwarded_proto if forwarded_proto in ("http", "https") else scheme
        host = forwarded_host or host
    if not _HOST.match(host):
        server_address = request.scope.get("server") or ("127.0.0.1", 8080)
        host = f"{server_address[0]}:{server_address[1]}"
    return f"{scheme}://{host}"


def own_origins(request: Request, storage: StorageConfig, server: ServerConfig) -> OwnOrigins:
    """The origins that are this gateway for this request: its public base URL, the ``Host``
    it was sent to, and loopback names on the port it listens on."""
    scheme: str = request.scope.get("scheme", "http")
    sent_to = origin_of(f"{scheme}://{request.headers.get('host', '')}")
    configured = origin_of(public_base_url(request, storage, server))
    origins = {parsed[0] for parsed in (sent_to, configured) if parsed is not None}
    prefixes = {""} | ({configured[1].rstrip("/")} if configured is not None else set())
    listening = request.scope.get("server")
    if listening and listening[1]:
        ports = frozenset({int(listening[1])})
    else:  # a server that does not say (an in-process transport): the port it was sent to
        ports = frozenset({sent_to[0][1]}) if sent_to is not None else frozenset()
    return OwnOrigins(frozenset(origins), ports, frozenset(prefixes))


def _from_trusted_proxy(request: Request, server: ServerConfig) -> bool:
    if not server.trusted_proxies or request.client is None:  # request.client builds a tuple
        return False
    try:
        address = ipaddress.ip_address(request.client.host)
    except ValueError:
        return False
    return any(address in network for network in server.trusted_proxies)


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not _KEY.match(key):
        raise InvalidRequest(
            "Idempotency-Key must be 1 to 255 printable ASCII characters.",
            param="Idempotency-Key",
        )
    return key


def client_timeout(request: Request) -> float | None:
    """The client's own read timeout in seconds, when its SDK announces one."""
    for header in ("x-stainless-read-timeout", "x-stainless-timeout"):
        value = request.headers.get(header)
        if value is None:
            continue
        try:
            seconds = float(value)
        except ValueError:
            continue
        if seconds > 0:
            return seconds
    return None


def wants_async(request: Request) -> bool:
    prefer = request.headers.get("prefer", "").lower()
    return "respond-async" in (part.strip() for part in prefer.split(","))


def wants_keepalive(request: Request) -> bool:
    return request.headers.get(KEEPALIVE_HEADER, "").strip().lower() in ("1", "true", "json")
