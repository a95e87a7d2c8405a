"""Carrier ``openai``: any upstream that speaks the OpenAI Images API (OpenAI, resellers).

It sends the job as OpenAI parameters (``wire``) and reads ``data[].b64_json`` (kept as the
raw bytes of the body, for re-hosting to decode or pass on) or ``data[].url``; what the
client asked for (``response_format``) does not change what it does. The API key goes into
one header and nowhere else; any text taken from an upstream reply has the key masked out
before it can reach a client or a log.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from typing import Any

import httpx
import orjson

from app.carriers.base import CarrierTools, classify_exception
from app.carriers.openai import fast_json as upstream_json
from app.carriers.openai.edit_form import edit_fields, edit_files
from app.carriers.openai.options import OpenAIConfig
from app.carriers.openai.sse import EventTooLarge, SSEDecoder
from app.carriers.openai.stream import stream_item
from app.carriers.openai.wire import upstream_params
from app.core.catalog import Route
from app.core.failures import CARRIER_PROBLEMS, CarrierFailure, classify_status
from app.domain import CarrierResult, ImageJob, PartialImage, UpstreamImage
from app.observability.logs import request_id_var

log = logging.getLogger(__name__)
_ECHOED = ("size", "quality", "background", "output_format")


class OpenAICarrier:
    def __init__(self, config: OpenAIConfig, tools: CarrierTools) -> None:
        self.name = config.name
        self._http = tools.http
        self._base_url = config.base_url
        self._generations_url = httpx.URL(config.base_url + "/images/generations")  # parsed once
        self._secret = config.api_key.get_secret_value() if config.api_key else ""
        self._headers = {**config.headers, "authorization": f"Bearer {self._secret}"}
        # httpx sets the multipart Content-Type (with its boundary) only if none is given.
        self._edit_headers = {k: v for k, v in self._headers.items() if k.lower() != "content-type"}
        self._json_headers = {**self._headers, "content-type": "application/json"}
        self._timeout = httpx.Timeout(config.timeout, connect=config.connect_timeout)
        self._key_hint = config.key_hint
        # A generation's request is built here, not by the client: httpx's build_request
        # merges and re-encodes the client's default headers for every request (a third of
        # the carrier's CPU per small request). Merged once, in the order httpx sends them.
        self._json_raw = _fixed_headers(
            tools.http.headers, self._json_headers, self._generations_url
        )
        self._extensions = {"timeout": self._timeout.as_dict()}

    async def run(self, job: ImageJob, route: Route) -> CarrierResult:
        with self._request(job, route, stream=False) as request:
            response = await self._send(request)
        return self._parse(response)

    async def stream(
        self, job: ImageJob, route: Route
    ) -> AsyncIterator[PartialImage | CarrierResult]:
        decoder = SSEDecoder()
        try:
            with self._request(job, route, stream=True) as request:
                async with self._streamed(request) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        raise self._failure(response)
                    if "text/event-stream" not in response.headers.get("content-type", ""):
                        await response.aread()  # an upstream that answered without streaming
                        yield self._parse(response)
                        return
                    async for chunk in response.aiter_bytes():
                        for event in decoder.feed(chunk):
                            item = stream_item(event, self.name, self._mask)
                            if item is not None:
                                yield item
                            if isinstance(item, CarrierResult):
                                return
        except httpx.HTTPError as exc:
            raise self._transport_failure(exc) from None
        except EventTooLarge as exc:
            raise CarrierFailure("transient", f"carrier '{self.name}': {exc}") from None
        raise CarrierFailure("transient", f"carrier '{self.name}' ended the stream too early")

    @contextmanager
    def _request(self, job: ImageJob, route: Route, *, stream: bool) -> Iterator[httpx.Request]:
        """The upstream request for ``job``; edit files stay open inside the block."""
        if job.operation == "edit":
            with ExitStack() as files:
                yield self._http.build_request(
                    "POST",
                    self._base_url + "/images/edits",
                    data=edit_fields(job, route, stream=stream),
                    files=edit_files(job, files),
                    headers={**self._edit_headers, "x-request-id": request_id_var.get()},
                    timeout=self._timeout,
                )
            return
        body = orjson.dumps(upstream_params(job, route, stream=stream))
        headers = [
            *self._json_raw,
            (b"x-request-id", request_id_var.get().encode("ascii")),  # for their logs
            (b"Content-Length", str(len(body)).encode("ascii")),
        ]
        request = httpx.Request(
            "POST",
            self._generations_url,
            headers=headers,
            stream=httpx.ByteStream(body),
            extensions=self._extensions,
        )
        request.read()  # the body as ``request.content``, as ``content=`` would have left it
        yield request

    async def _send(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await self._http.send(request)
        except httpx.HTTPError as exc:
            raise self._transport_failure(exc) from None
        if response.status_code >= 400:
            raise self._failure(response)
        return response

    @asynccontextmanager
    async def _streamed(self, request: httpx.Request) -> AsyncIterator[httpx.Response]:
        """``request``'s response with its body unread (what ``AsyncClient.stream`` does)."""
        response = await self._http.send(request, stream=True)
        try:
            yield response
        finally:
            await response.aclose()

    def _transport_failure(self, exc: httpx.HTTPError) -> CarrierFailure:
        kind = classify_exception(exc)
        what = "did not answer in time" if kind == "timeout" else "could not be reached"
        log.warning("carrier %s %s: %s", self.name, what, type(exc).__name__)
        return CarrierFailure(kind, f"carrier '{self.name}' {what}")

    def _failure(self, response: httpx.Response) -> CarrierFailure:
        status = response.status_code
        error = self._error_body(response)
        kind = classify_status(status, error.get("code"))
        upstream_message = self._mask(str(error.get("message") or "")) or f"HTTP {status}"
        log.warning("carrier %s answered %s: %s", self.name, status, upstream_message[:500])
        if kind == "key_rejected":
            log.error(
                "CARRIER KEY REJECTED: carrier %s answered HTTP %d to the gateway's API key; "
                "check %s",
                self.name,
                status,
                self._key_hint,
            )
            message = f"carrier '{self.name}' rejected the gateway's API key (HTTP {status})"
        elif kind == "rejected":
            message = upstream_message
        elif kind in CARRIER_PROBLEMS:
            message = f"carrier '{self.name}' refused the gateway's request (HTTP {status})"
        else:
            message = f"carrier '{self.name}' failed (HTTP {status})"
        return CarrierFailure(
            kind,
            message,
            status=status,
            retry_after=_retry_after(response.headers),
            upstream_error={k: self._mask_any(error.get(k)) for k in ("type", "code", "param")},
        )

    def _error_body(self, response: httpx.Response) -> dict[str, Any]:
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            return {"message": response.text[:300]}
        error = body.get("error") if isinstance(body, dict) else None
        return error if isinstance(error, dict) else {}

    def _parse(self, response: httpx.Response) -> CarrierResult:
        try:
            body = upstream_json.loads(response.content, raw_b64=True)
            items = body["data"]
            images = tuple(_image(item) for item in items)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise CarrierFailure(
                "transient", f"carrier '{self.name}' sent an unreadable response"
            ) from None
        if not images:
            raise CarrierFailure("transient", f"carrier '{self.name}' returned no images")
        usage = body.get("usage")
        echoed = {k: body.get(k) if isinstance(body.get(k), str) else None for k in _ECHOED}
        return CarrierResult(
            images=images, usage=usage if isinstance(usage, dict) else None, **echoed
        )

    def _mask(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text

    def _mask_any(self, value: Any) -> str | None:
        return self._mask(value) if isinstance(value, str) else None


def _image(item: Any) -> UpstreamImage:
    if not isinstance(item, dict):
        raise ValueError("image entry is not an object")
    revised = item.get("revised_prompt")
    revised = revised if isinstance(revised, str) else None
    b64, url = item.get("b64_json"), item.get("url")
    if isinstance(b64, str | memoryview) and b64:
        return UpstreamImage(b64=b64, revised_prompt=revised)
    if isinstance(url, str) and url.startswith(("https://", "http://", "data:")):
        return UpstreamImage(url=url, revised_prompt=revised)
    raise ValueError("image entry has neither b64_json nor url")


def _fixed_headers(
    defaults: httpx.Headers, ours: dict[str, str], url: httpx.URL
) -> list[tuple[bytes, bytes]]:
    """The headers every JSON request sends, as ``build_request`` would merge them: ``Host``,
    the client's defaults (user agent, accepted encodings...), then ours over them. The
    per-request ``x-request-id`` and ``Content-Length`` are left for each request to add."""
    merged = httpx.Headers(defaults)
    merged.update(ours)
    per_request = (b"x-request-id", b"content-length", b"transfer-encoding")
    fixed = [(key, value) for key, value in merged.raw if key.lower() not in per_request]
    return fixed if "host" in merged else [(b"Host", url.netloc), *fixed]


def _retry_after(headers: httpx.Headers) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds); dates are ignored."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            continue
        if seconds >= 0:
            return seconds
    return None
