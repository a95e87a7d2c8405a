"""Fetching client-given image URLs without becoming an SSRF proxy.

Every hop of a fetch:

1. The URL must be ``http`` or ``https``, with a host and no user info.
2. The host is resolved once, by the injectable resolver (the system's ``getaddrinfo`` by
   default). Every address it resolves to is checked by :func:`refusal`; one bad address
   refuses the URL (loopback, private, link-local such as 169.254.169.254, carrier-grade NAT,
   multicast, reserved, unspecified; IPv4 and IPv6, including IPv4 addresses embedded in IPv6:
   mapped, 6to4, NAT64). Only ``fetch.allow`` (networks, or host names whose addresses are
   trusted, each for any port or one: ``app.config.allow``) lets a private address through.
   A refused host name's message never says what it resolved to; the log does.
3. The connection goes to a checked address *literally*: the request URL carries the IP, the
   ``Host`` header the original name, and TLS uses the name for SNI and certificate checks
   (httpcore's ``sni_hostname``). No second lookup happens, so DNS rebinding has no window.
   Connections are never pooled or reused, and proxies from the environment are ignored.
4. Redirects are followed by hand, at most ``fetch.max_redirects`` times, each hop checked again.

The body is streamed into the request's spool with a byte cap, under one deadline for the
whole fetch. Compressed transfer encodings are refused rather than inflated.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable, Sequence

import httpx

from app.config.schema import FetchConfig
from app.inputs.spool import FileBlob, MemoryBlob, SpoolWriter

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_USER_AGENT = "imagegate (image input fetcher)"


class FetchError(Exception):
    """A URL that was not fetched; ``message`` is safe to show the client who sent it."""

    def __init__(self, message: str, *, refused: bool = False, too_large: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.refused = refused
        self.too_large = too_large


async def system_resolver(host: str, port: int) -> Sequence[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def refusal(address: IPAddress) -> str | None:
    """Why an address must not be fetched from, or None for a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and any(address in net for net in _NAT64):
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            inner = refusal(embedded)
            return f"{inner} (embedded in IPv6)" if inner else None
        if address.teredo is not None or address.is_site_local:
            return "a tunnelled or site-local address"
    checks = (
        ("an unspecified address", address.is_unspecified),
        ("a loopback address", address.is_loopback),
        ("a link-local address", address.is_link_local),
        ("a multicast address", address.is_multicast),
        ("a carrier-grade NAT address", address in _CGNAT),
        ("a private address", address.is_private),
        ("a reserved address", address.is_reserved),
        ("a non-public address", not address.is_global),
    )
    return next((label for label, hit in checks if hit), None)


class SafeFetcher:
    def __init__(self, config: FetchConfig, resolver: Resolver | None = None) -> None:
        self._resolve = resolver or system_resolver
        self._rules = config.allow_rules
        self._max_redirects = config.max_redirects
        self._deadline = config.timeout
        self._timeout = httpx.Timeout(config.timeout, connect=config.connect_timeout)
        self._ssl: ssl.SSLContext | None = None

    async def fetch(self, url: str, writer: SpoolWriter, max_bytes: int) -> MemoryBlob | FileBlob:
        """Download ``url`` into ``writer``; raise :class:`FetchError`."""
        current = _parse(url)
        try:
            async with asyncio.timeout(self._deadline):
                for _ in range(self._max_redirects + 1):
                    target = await self._checked_addresses(current)
                    location = await self._get(current, target, writer, max_bytes)
                    if location is None:
                        return await writer.finish()
                    current = _parse(str(current.join(location)), redirected=True)
        except TimeoutError:
            raise FetchError(f"fetching the URL took longer than {self._deadline:g} s") from None
        raise FetchError(f"the URL redirected more than {self._max_redirects} times")

    async def _checked_addresses(self, url: httpx.URL) -> list[IPAddress]:
        host = url.raw_host.decode("ascii").lower()
        port = _port(url)
        try:
            literal: IPAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            names = [literal]
        else:
            try:
                resolved = await self._resolve(host, port)
            except OSError:
                raise FetchError(f"the host '{host}' could not be resolved") from None
            names = [ipaddress.ip_address(a.split("%")[0]) for a in resolved]
            if not names:
                raise FetchError(f"the host '{host}' could not be resolved")
        if literal is None and any(rule.admits_host(host, port) for rule in self._rules):
            return names
        for address in names:
            reason = None if self._admitted(address, port) else refusal(address)
            if reason is not None:
                raise _refused(host, port, address, reason, named=literal is None)
        return names

    def _admitted(self, address: IPAddress, port: int) -> bool:
        return any(rule.admits_address(address, port) for rule in self._rules)

    async def _get(
        self, url: httpx.URL, addresses: list[IPAddress], writer: SpoolWriter, max_bytes: int
    ) -> str | None:
        """Fetch one hop from the first address that accepts; the redirect target, if any."""
        for address in addresses[:3]:
            try:
                return await self._get_from(url, address, writer, max_bytes)
            except httpx.ConnectError:
                continue
            except httpx.TimeoutException:
                raise FetchError("the URL's server did not answer in time") from None
            except httpx.HTTPError as exc:
                raise FetchError(f"fetching the URL failed ({type(exc).__name__})") from None
        raise FetchError("the URL's server could not be reached")

    async def _get_from(
        self, url: httpx.URL, address: IPAddress, writer: SpoolWriter, max_bytes: int
    ) -> str | None:
        pinned = url.copy_with(host=str(address))
        headers = {
            "host": url.netloc.decode("ascii"),
            "accept": "image/png, image/jpeg, image/webp, image/*;q=0.8",
            "accept-encoding": "identity",
            "user-agent": _USER_AGENT,
        }
        extensions = {"sni_hostname": url.raw_host.decode("ascii")} if url.scheme == "https" else {}
        async with (
            httpx.AsyncClient(transport=self._transport(), trust_env=False) as client,
            client.stream(
                "GET", pinned, headers=headers, extensions=extensions, timeout=self._timeout
            ) as response,
        ):
            if response.status_code in _REDIRECTS and "location" in response.headers:
                return response.headers["location"]
            if response.status_code != 200:
                raise FetchError(f"the URL answered HTTP {response.status_code}")
            if response.headers.get("content-encoding", "identity").lower() != "identity":
                raise FetchError("the URL answered with a compressed encoding; send the image")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise _too_large(max_bytes)
            async for chunk in response.aiter_raw():
                if writer.size + len(chunk) > max_bytes:
                    raise _too_large(max_bytes)
                await writer.write(chunk)
        log.info("fetched an input image from %s (%d bytes)", url.host, writer.size)
        return None

    def _transport(self) -> httpx.AsyncHTTPTransport:
        if self._ssl is None:
            self._ssl = httpx.create_ssl_context()
        no_reuse = httpx.Limits(max_connections=1, max_keepalive_connections=0)
        return httpx.AsyncHTTPTransport(verify=self._ssl, trust_env=False, limits=no_reuse)


def _parse(url: str, *, redirected: bool = False) -> httpx.URL:
    where = "redirects to" if redirected else "is"
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise FetchError(f"the URL {where} not a valid URL") from None
    if parsed.scheme not in ("http", "https"):
        scheme = parsed.scheme[:20] or "none"
        raise FetchError(
            f"the URL {where} a '{scheme}' URL; only http and https URLs are fetched",
            refused=True,
        )
    if not parsed.raw_host:
        raise FetchError(f"the URL {where} a URL without a host")
    if parsed.userinfo:
        raise FetchError("URLs with user names or passwords are not fetched", refused=True)
    return parsed


def _port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


def _refused(host: str, port: int, address: IPAddress, reason: str, *, named: bool) -> FetchError:
    """The client learns which rule refused its URL; how an internal name resolves (the
    address, what kind it is) goes to the log only."""
    if not named:
        return FetchError(
            f"the host '{host}' is {reason}, which this gateway does not fetch from", refused=True
        )
    log.info("refused to fetch from %s port %d: it resolves to %s, %s", host, port, address, reason)
    return FetchError(
        f"the host '{host}' is not a public host; this gateway fetches from other hosts "
        "only when its fetch.allow lists them",
        refused=True,
    )


def _too_large(max_bytes: int) -> FetchError:
    return FetchError(f"the image is larger than {max_bytes:,} bytes", too_large=True)
