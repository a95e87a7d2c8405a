"""Pure routing decisions: which routes may serve a job, and what to tell a client when all fail."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from app.carriers.base import CarrierFailure
from app.catalog import ModelSpec, Route
from app.errors import (
    GatewayError,
    NoCarrierAvailable,
    RateLimited,
    UpstreamFailed,
    UpstreamRejected,
    UpstreamTimeout,
)


def plan(spec: ModelSpec, enabled: Collection[str]) -> list[Route]:
    """The routes to try, in order; raises when no enabled carrier serves the model."""
    routes = [route for route in spec.routes if route.carrier in enabled]
    if not routes:
        raise NoCarrierAvailable(
            f"No carrier is available for model '{spec.name}': every configured carrier is "
            "disabled (missing API key?).",
        )
    return routes


def final_error(failures: Sequence[tuple[str, CarrierFailure]]) -> GatewayError:
    """The most meaningful error once every attempt failed."""
    last = failures[-1][1]
    if last.kind == "rejected":
        upstream = last.upstream_error
        return UpstreamRejected(
            last.message,
            param=upstream.get("param"),
            code=upstream.get("code") or "upstream_rejected",
            type=upstream.get("type") or "invalid_request_error",
        )
    listed = ", ".join(f"{carrier}: {failure.message}" for carrier, failure in failures)
    kinds = {failure.kind for _, failure in failures}
    if kinds == {"rate_limited"}:
        waits = [f.retry_after for _, f in failures if f.retry_after is not None]
        return RateLimited(
            f"Every carrier is rate limited ({listed}).", retry_after=min(waits, default=None)
        )
    if kinds == {"timeout"}:
        return UpstreamTimeout(f"Every carrier timed out ({listed}).")
    return UpstreamFailed(f"Every carrier failed ({listed}).")
