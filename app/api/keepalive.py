"""Opt-in keep-alive for long JSON responses: headers early, then spaces, then the JSON.

JSON allows leading whitespace, so clients parse the body as usual, and idle-timeout proxies
(nginx, Cloudflare) see bytes flowing. The trade-off: once the first space is sent the status
is 200, so a later failure arrives as a 200 whose body is the error envelope. A request that
finishes within one interval gets an ordinary response with its real status.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from starlette.responses import Response, StreamingResponse

from app.errors import GatewayError, error_body


async def with_keepalive(work: Coroutine[Any, Any, Response], interval: float) -> Response:
    waiter = asyncio.ensure_future(work)
    done, _ = await asyncio.wait({waiter}, timeout=interval)
    if done:
        return waiter.result()  # errors raise here and become ordinary HTTP errors
    return StreamingResponse(_spaces_then_body(waiter, interval), media_type="application/json")


async def _spaces_then_body(
    waiter: asyncio.Future[Response], interval: float
) -> AsyncIterator[bytes]:
    try:
        while not waiter.done():
            yield b" "
            await asyncio.wait({waiter}, timeout=interval)
        try:
            response = waiter.result()
        except GatewayError as error:
            yield error_body(error)
            return
        yield bytes(response.body)
    finally:
        waiter.cancel()  # the job itself is shielded and tracked; only the waiting stops
