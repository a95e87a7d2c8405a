"""Reading an OpenAI-style image event stream into partial images and one final result."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from app.carriers.openai.sse import SSEEvent
from app.core.failures import CarrierFailure, FailureKind
from app.domain import CarrierResult, PartialImage, UpstreamImage

_ECHOED = ("size", "quality", "background", "output_format")
# Error types that mean "this request is refused" rather than "this carrier broke".
_REFUSALS = frozenset({"invalid_request_error", "image_generation_user_error"})


def stream_item(
    event: SSEEvent, carrier: str, mask: Callable[[str], str]
) -> PartialImage | CarrierResult | None:
    """One upstream event as a partial image, the final result, or None (nothing to pass on)."""
    if event.data.strip() == b"[DONE]":
        return None
    try:
        body = orjson.loads(event.data)
    except orjson.JSONDecodeError:
        raise CarrierFailure("transient", f"carrier '{carrier}' sent an unreadable event") from None
    if not isinstance(body, dict):
        return None
    if "error" in body:
        raise _stream_error(body["error"], carrier, mask)
    kind = str(body.get("type") or event.event or "")
    b64 = body.get("b64_json")
    if not isinstance(b64, str) or not b64:
        return None
    echoed: dict[str, Any] = {
        k: body.get(k) if isinstance(body.get(k), str) else None for k in _ECHOED
    }
    if kind.endswith("partial_image"):
        index = body.get("partial_image_index")
        created = body.get("created_at")
        return PartialImage(
            b64=b64,
            index=index if isinstance(index, int) else 0,
            created_at=created if isinstance(created, int) else None,
            **echoed,
        )
    if kind.endswith("completed"):
        usage = body.get("usage")
        return CarrierResult(
            images=(UpstreamImage(b64=b64),),
            usage=usage if isinstance(usage, dict) else None,
            **echoed,
        )
    return None


def _stream_error(error: Any, carrier: str, mask: Callable[[str], str]) -> CarrierFailure:
    error = error if isinstance(error, dict) else {"message": str(error)}
    kind: FailureKind = "rejected" if error.get("type") in _REFUSALS else "transient"
    message = mask(str(error.get("message") or "the stream failed"))
    shown = message if kind == "rejected" else f"carrier '{carrier}' failed mid-stream"
    upstream = {
        k: mask(v) if isinstance(v := error.get(k), str) else None
        for k in ("type", "code", "param")
    }
    return CarrierFailure(kind, shown, upstream_error=upstream)
