"""Pure routing decisions: which routes may serve a job and in what order, what to do after a
failed attempt, and what to tell the client when every attempt failed. No I/O here."""

from __future__ import annotations

import random
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Literal

from app.config.rules import EditLimits, FlexibleSizes, RuleSet
from app.config.runtime import RetryConfig
from app.core.catalog import ModelSpec, Route
from app.core.failures import CARRIER_PROBLEMS, CarrierFailure
from app.domain import ImageJob
from app.errors import (
    CarriersCoolingDown,
    GatewayError,
    NoCarrierAvailable,
    RateLimited,
    UnsupportedParameter,
    UpstreamFailed,
    UpstreamRejected,
    UpstreamTimeout,
)


@dataclass(frozen=True, slots=True)
class Decision:
    action: Literal["retry", "next", "stop"]
    delay: float = 0.0


def candidates(job: ImageJob, spec: ModelSpec, enabled: Collection[str]) -> list[Route]:
    """Enabled routes whose carrier can serve ``job`` as asked; 4xx/503 when there is none.

    Offline routes serve only in offline mode (no real route of the model is enabled), or,
    where the operator opted in (``offline_fallback``), after the real ones. One check per
    route, against its effective rules (the model's, with the route's ``overrides``, narrowed
    to its carrier's edit support)."""
    routes = serving_routes(spec, enabled)
    if not routes:
        raise NoCarrierAvailable(
            f"No carrier is available for model '{spec.name}': every configured carrier is "
            "disabled (missing API key?)."
        )
    able: list[Route] = []
    reasons: dict[str, str] = {}
    param: str | None = None
    for route in routes:
        problem = route_problem(job, route.rules)
        if problem is None:
            able.append(route)
        else:
            param = param or problem[0]
            reasons[route.carrier] = problem[1]
    if not able:
        why = "; ".join(f"carrier '{carrier}' {reason}" for carrier, reason in reasons.items())
        raise UnsupportedParameter(
            f"No carrier of model '{spec.name}' can serve this request ({why}).", param=param
        )
    return able


def serving_routes(spec: ModelSpec, enabled: Collection[str]) -> list[Route]:
    """The enabled routes that may serve ``spec``: the real ones and the opted-in offline
    fallbacks, or, when no real route is enabled (offline mode), the offline ones."""
    routes = [route for route in spec.routes if route.carrier in enabled]
    if not any(not route.offline for route in routes):
        return routes
    return [route for route in routes if not route.offline or route.offline_fallback]


def offline_models(models: Iterable[ModelSpec], enabled: Collection[str]) -> list[str]:
    """The models that run offline: every route that may serve them is an offline one."""
    return [
        spec.name
        for spec in models
        if (routes := serving_routes(spec, enabled)) and all(r.offline for r in routes)
    ]


def route_problem(job: ImageJob, rules: RuleSet) -> tuple[str, str] | None:
    """(param, reason) when a carrier applying ``rules`` cannot serve ``job``, else None."""
    checks: list[tuple[str, object, Collection[object]]] = [
        ("quality", job.quality, rules.qualities),
        ("background", job.background, rules.backgrounds),
        ("output_format", job.output_format, rules.output_formats),
        ("moderation", job.moderation, rules.moderations),
        ("style", job.style, rules.styles),
        ("input_fidelity", job.input_fidelity, rules.input_fidelities),
    ]
    for param, value, allowed in checks:
        if value is not None and value not in allowed:
            return param, f"does not support {param} '{value}'"
    if job.output_compression is not None and not rules.output_compression:
        return "output_compression", "does not support output_compression"
    if not rules.n[0] <= job.n <= rules.n[1]:
        return "n", f"does not support n={job.n}"
    if job.size is not None and not _size_ok(job.size, rules):
        return "size", f"does not support size '{job.size}'"
    return _edit_problem(job, rules)


def _size_ok(size: str, rules: RuleSet) -> bool:
    if size == "auto":
        return rules.allows_auto_size
    if not isinstance(rules.sizes, FlexibleSizes):
        return size in rules.sizes
    width, _, height = size.partition("x")
    return rules.sizes.problem(int(width), int(height)) is None


def _edit_problem(job: ImageJob, rules: RuleSet) -> tuple[str, str] | None:
    if job.operation != "edit":
        return None
    if rules.edit is None:
        return "model", "does not support image edits"
    limits = rules.edit
    if len(job.images) > limits.max_images:
        return "image", (
            f"takes at most {limits.max_images} input image"
            f"{'s' if limits.max_images != 1 else ''}; the request has {len(job.images)}"
        )
    if job.mask is not None and not limits.mask:
        return "mask", "does not support masks"
    return _input_problem(job, limits)


def _input_problem(job: ImageJob, limits: EditLimits) -> tuple[str, str] | None:
    inputs = (*job.images, *([job.mask] if job.mask is not None else []))
    if not limits.json_inputs and any(image.origin != "upload" for image in inputs):
        return "image", "only takes uploaded files (multipart), not image URLs or data URIs"
    for image in inputs:
        if image.format not in limits.image_formats:
            return image.param, f"does not accept {image.format.upper()} images ({image.param})"
        if image.byte_size > limits.max_image_bytes:
            return image.param, (
                f"takes images of at most {limits.max_image_bytes:,} bytes "
                f"({image.param} has {image.byte_size:,})"
            )
    return None


def order(routes: Sequence[Route], rng: random.Random) -> list[Route]:
    """Tier by tier (1 first); within a tier, a weighted random order. Offline fallbacks
    come after every real route, whatever their tier."""
    ordered: list[Route] = []
    for _, group in groupby(sorted(routes, key=_rank), key=_rank):
        pool = list(group)
        while pool:
            pick = rng.choices(range(len(pool)), weights=[r.weight for r in pool])[0]
            ordered.append(pool.pop(pick))
    return ordered


def _rank(route: Route) -> tuple[bool, int]:
    return route.offline, route.tier


def decide(
    failure: CarrierFailure,
    retries_done: int,
    retries_allowed: int,
    policy: RetryConfig,
    remaining: float,
    rng: random.Random,
) -> Decision:
    """After a failed attempt: retry the same carrier (after a delay), try the next, or stop."""
    if failure.kind == "rejected":
        return Decision("stop")
    if failure.kind in CARRIER_PROBLEMS or retries_done >= retries_allowed:
        return Decision("next")
    if failure.retry_after is not None:
        if failure.retry_after > policy.max_retry_after:
            return Decision("next")
        delay = failure.retry_after
    else:
        backoff = min(policy.backoff_base * 2**retries_done, policy.backoff_max)
        delay = backoff * (0.75 + 0.25 * rng.random())
    return Decision("retry", delay) if delay < remaining else Decision("next")


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
    listed = "; ".join(f"{carrier}: {failure.message}" for carrier, failure in failures)
    kinds = {failure.kind for _, failure in failures}
    if kinds == {"rate_limited"}:
        waits = [f.retry_after for _, f in failures if f.retry_after is not None]
        return RateLimited(
            f"Every carrier is rate limited ({listed}).", retry_after=min(waits, default=None)
        )
    if kinds == {"timeout"}:
        return UpstreamTimeout(f"Every carrier timed out ({listed}).")
    return UpstreamFailed(f"Every carrier failed ({listed}).")


def all_cooling_down(spec: ModelSpec, retry_after: float | None) -> GatewayError:
    return CarriersCoolingDown(
        f"Every carrier for model '{spec.name}' is cooling down after recent failures; "
        "try again shortly.",
        retry_after=retry_after,
    )
