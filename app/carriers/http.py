"""The upstream HTTP transport: httpx's API on aiohttp's connection pool.

httpx's default pool (httpcore) spends most of a small request's CPU re-checking every pooled
connection (one ``poll()`` per idle connection per request) and re-assigning queued requests,
so its cost grows with concurrency: at 64 concurrent requests it was half of the gateway's
CPU, and with 256 requests waiting on a slow upstream the gateway managed 32 requests/s
instead of 256 (see the README's Performance section). aiohttp's pool is O(1) per request.
Everything above the socket (timeouts, redirects, auth, decoding, errors) stays httpx's.

Differences from httpx's transport: ``Limits.max_keepalive_connections`` is not applied
(idle connections are kept until ``keepalive_expiry``, within ``max_connections``), there
is no write timeout, and HTTP/2 is not offered. Requests httpx routes through a proxy from
the environment (``HTTPS_PROXY``...) use httpx's own proxy transport, as before.

Errors come out as the matching ``httpx`` exceptions, so callers classify them as before:
timeouts as :class:`httpx.TimeoutException`, everything else as other ``httpx.HTTPError`` s.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import httpx
from yarl import URL

TransportFactory = Callable[[httpx.Limits], httpx.AsyncBaseTransport]

# Largest amount of a response body aiohttp buffers before it stops reading the socket: large
# enough that a multi-MB image arrives without stop-and-go, small enough to bound memory.
READ_BUFFER = 1024 * 1024
_DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)


def default_transport(limits: httpx.Limits) -> httpx.AsyncBaseTransport:
    return AiohttpTransport(limits=limits)


def httpcore_transport(limits: httpx.Limits) -> httpx.AsyncBaseTransport:
    """httpx's own transport: slower, but what ``respx`` (the tests' mock) patches."""
    return httpx.AsyncHTTPTransport(limits=limits)


class UpstreamClient(httpx.AsyncClient):
    """The gateway's client for carriers: an ``httpx.AsyncClient`` that keeps no cookies.

    Carrier calls are stateless API calls. httpx would keep every ``Set-Cookie`` an upstream
    sends in one jar shared by all the gateway's requests, and for every response it builds
    urllib request/response shims to ask ``http.cookiejar`` about cookies: 13% of the
    client's CPU per small request (about 55 us), for nothing.
    """

    def __init__(self, **kwargs: Any) -> None:
        self._no_cookies = _NoCookies()
        super().__init__(**kwargs)

    @property
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies

    @cookies.setter
    def cookies(self, value: Any) -> None:
        if value:
            raise ValueError("UpstreamClient keeps no cookies")


class _NoCookies(httpx.Cookies):
    def extract_cookies(self, response: httpx.Response) -> None:
        return None

    def set(self, name: str, value: str, domain: str = "", path: str = "/") -> None:
        raise ValueError("UpstreamClient keeps no cookies")


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An ``httpx`` transport that sends HTTP/1.1 requests through an aiohttp session."""

    def __init__(self, *, limits: httpx.Limits = _DEFAULT_LIMITS) -> None:
        self._limits = limits
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        # Created on first use: aiohttp binds the session to the running event loop.
        connector = aiohttp.TCPConnector(
            limit=self._limits.max_connections or 0,
            limit_per_host=0,
            keepalive_timeout=self._limits.keepalive_expiry or 5.0,
            ssl=httpx.create_ssl_context(),  # the same CA bundle as httpx's own transport
        )
        return aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),  # httpx keeps cookies (we send none)
            auto_decompress=False,  # httpx decodes Content-Encoding itself
            trust_env=False,  # httpx resolves proxies from the environment, not aiohttp
            read_bufsize=READ_BUFFER,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._session is None:
            self._session = self._open()
        timeout = request.extensions.get("timeout", {})
        headers = [(k, v) for k, v in request.headers.multi_items() if k != "transfer-encoding"]
        data: bytes | AsyncIterator[bytes] | None
        try:
            data = request.content or None
        except httpx.RequestNotRead:
            data = _chunks(request.stream)
        with _MAPPED:
            response = await self._session.request(
                request.method,
                URL(str(request.url), encoded=True),
                headers=headers,
                data=data,
                allow_redirects=False,  # httpx follows redirects itself when asked to
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=timeout.get("pool"),
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                ),
                server_hostname=_sni(request),
            )
        extensions: dict[str, Any] = {"http_version": b"HTTP/1.1"}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode("latin-1", "replace")
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_ResponseStream(response),
            extensions=extensions,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class _ResponseStream(httpx.AsyncByteStream):
    """The body as aiohttp parsed it, chunk by chunk: no joining or re-chunking here."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _MAPPED:
            # iter_chunks hands over aiohttp's buffered chunks one by one; iter_any would
            # first join whatever is buffered (a copy httpx's own join makes anyway).
            async for chunk, _ in self._response.content.iter_chunks():
                yield chunk

    async def aclose(self) -> None:
        # Back to the pool when the body was read to the end; otherwise the socket is closed.
        self._response.release()


async def _chunks(stream: httpx.AsyncByteStream | httpx.SyncByteStream) -> AsyncIterator[bytes]:
    if isinstance(stream, httpx.AsyncByteStream):
        async for chunk in stream:
            yield chunk
    else:
        for chunk in stream:
            yield chunk


def _sni(request: httpx.Request) -> str | None:
    value = request.extensions.get("sni_hostname")
    return value.decode("ascii") if isinstance(value, bytes) else value


class _ErrorMapper:
    """``with _MAPPED:`` turns aiohttp's exceptions into the httpx ones callers handle."""

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:
        if isinstance(exc, aiohttp.ClientError | asyncio.TimeoutError):
            raise _translate(exc) from exc


_MAPPED = _ErrorMapper()  # stateless, so one instance serves every request


def _translate(exc: BaseException) -> httpx.HTTPError:
    message = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(message)
    if isinstance(exc, asyncio.TimeoutError):  # SocketTimeoutError, ServerTimeoutError, ...
        return httpx.ReadTimeout(message)
    if isinstance(exc, aiohttp.ClientConnectorError):  # refused, DNS, TLS handshake
        return httpx.ConnectError(message)
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return httpx.RemoteProtocolError(message)
    if isinstance(exc, aiohttp.ClientResponseError):  # a malformed response
        return httpx.RemoteProtocolError(message)
    if isinstance(exc, aiohttp.ClientOSError | aiohttp.ClientConnectionError):
        return httpx.ReadError(message)
    if isinstance(exc, aiohttp.InvalidURL):
        return httpx.UnsupportedProtocol(message)
    return httpx.TransportError(message)
