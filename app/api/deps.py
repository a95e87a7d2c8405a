"""Typed access to the app-scoped services, plus authentication and public URLs."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from dataclasses import dataclass
from typing import Annotated, TypedDict

from fastapi import Depends, Request

from app.catalog import Catalog
from app.config import GatewayConfig
from app.domain import Caller
from app.errors import AuthenticationFailed, InvalidRequest
from app.execution import Executor
from app.health import HealthBook
from app.inputs import InputLoader
from app.jobs import JobRunner
from app.storage import Storage

_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")


@dataclass(frozen=True, slots=True)
class Services:
    config: GatewayConfig
    catalog: Catalog
    executor: Executor
    health: HealthBook
    enabled: frozenset[str]
    jobs: JobRunner
    storage: Storage
    inputs: InputLoader
    keys: tuple[bytes, ...]


class State(TypedDict):
    services: Services


async def get_services(request: Request) -> Services:  # async: FastAPI runs sync ones in a thread
    services: Services = request.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_caller(request: Request, services: ServicesDep) -> Caller:
    """Check ``Authorization: Bearer <key>`` against the gateway keys (open when there are none)."""
    if not services.keys:
        return Caller("open")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed(
            "Missing API key: send 'Authorization: Bearer <key>' with a key of this gateway."
        )
    presented = token.strip().encode()
    matched = [hmac.compare_digest(presented, key) for key in services.keys]
    if not any(matched):
        raise AuthenticationFailed("Incorrect API key provided.")
    return Caller("key_" + hashlib.sha256(presented).hexdigest()[:16])


CallerDep = Annotated[Caller, Depends(get_caller)]


def public_base_url(request: Request, config: GatewayConfig) -> str:
    """Where clients reach this gateway: configured, else the request's own scheme and host.

    ``X-Forwarded-Proto`` / ``X-Forwarded-Host`` are honoured only from trusted proxies.
    """
    if config.storage.public_base_url is not None:
        return config.storage.public_base_url
    scheme: str = request.scope.get("scheme", "http")  # request.url would build a whole URL
    host = request.headers.get("host", "")
    if _from_trusted_proxy(request, config):
        forwarded_proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip()
        forwarded_host = request.headers.get("x-forwarded-host", "").split(",")[0].strip()
        scheme = forwarded_proto if forwarded_proto in ("http", "https") else scheme
        host = forwarded_host or host
    if not _HOST.match(host):
        server = request.scope.get("server") or ("127.0.0.1", 8080)
        host = f"{server[0]}:{server[1]}"
    return f"{scheme}://{host}"


def _from_trusted_proxy(request: Request, config: GatewayConfig) -> bool:
    if request.client is None or not config.server.trusted_proxies:
        return False
    try:
        address = ipaddress.ip_address(request.client.host)
    except ValueError:
        return False
    return any(address in network for network in config.server.trusted_proxies)


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
