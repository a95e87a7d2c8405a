"""The policy of a key and its team, checked in one pure function (no I/O, no clock of its own).

:func:`check` answers in this order, and the first refusal wins:

1. unknown, revoked or expired key: 401 ``invalid_api_key``;
2. model not allowed (aliases resolve to the model): 403 ``model_not_allowed``, ``param: model``;
   a key or team with a budget asking for a model without a price: 403 ``model_unpriced``;
3. a parameter beyond the limits (``n``, pixels per image, quality, edit images): 403
   ``limit_exceeded`` naming the parameter;
4. a rate or concurrency limit: 429 ``rate_limit_exceeded`` with ``retry-after`` and
   ``x-ratelimit-*`` headers.

The budget comes last and is decided by the database's conditional update, not here
(``app.access.admission``); :func:`over_budget` only words its refusal. A team's limits cap
all its keys together: each step checks the key, then its team.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

from app.core.pricing import usd
from app.domain import Limits, Principal
from app.errors import (
    AuthenticationFailed,
    LimitExceeded,
    ModelNotAllowed,
    ModelUnpriced,
    QuotaExceeded,
    RateLimited,
)

Scope = str  # "key" or "team"


@dataclass(frozen=True, slots=True)
class Demand:
    """What a request asks for, as the policy sees it: the model (``names``: its name and
    aliases), ``n``, the largest pixels per image it may render, its quality (``auto`` when
    unset), its input images, and whether every route that may serve it has a price."""

    model: str
    names: frozenset[str]
    n: int
    pixels: int
    quality: str
    edit_images: int
    priced: bool


@dataclass(frozen=True, slots=True)
class Load:
    """One scope's counts *before* this request: requests and images in the current minute
    (which ends in ``reset`` seconds) and requests in flight."""

    requests: int = 0
    images: int = 0
    concurrent: int = 0
    reset: float = 60.0


def check(
    principal: Principal | None,
    now: datetime,
    demand: Demand | None = None,
    load: Mapping[Scope, Load] | None = None,
) -> Principal:
    """The principal when it may go ahead; raises the first refusal otherwise. Without a
    ``demand`` only the key itself is checked; without ``load`` no rate limit is."""
    if principal is None:
        raise AuthenticationFailed("Incorrect API key provided.")
    if principal.expires_at is not None and now >= principal.expires_at:
        raise AuthenticationFailed("This API key has expired.")
    if demand is None:
        return principal
    scopes = list(_scopes(principal))
    for who, limits in scopes:
        _model(who, limits, demand)
    for who, limits in scopes:
        _parameters(who, limits, demand)
    if load is not None:
        for (who, limits), scope in zip(scopes, ("key", "team"), strict=False):
            _rates(who, limits, load.get(scope, Load()), demand.n)
    return principal


def over_budget(principal: Principal, estimate_nanos: int) -> QuotaExceeded:
    """The refusal when the key's or its team's budget cannot hold ``estimate_nanos``."""
    periods = {principal.limits.budget_period, principal.team_limits.budget_period}
    return QuotaExceeded(
        f"The budget of this key (or of its team) for this {'/'.join(sorted(periods))} cannot "
        f"cover this request, which may cost up to ${usd(estimate_nanos)}. Ask for fewer or "
        "smaller images, or wait for the next period."
    )


def _scopes(principal: Principal) -> Iterator[tuple[str, Limits]]:
    yield f"key '{principal.name}'", principal.limits
    if principal.team is not None:
        yield f"team '{principal.team_name or principal.team}'", principal.team_limits


def _model(who: str, limits: Limits, demand: Demand) -> None:
    if limits.models is not None and not limits.models & demand.names:
        allowed = ", ".join(sorted(limits.models)) or "none"
        raise ModelNotAllowed(
            f"The {who} may not use the model '{demand.model}' (allowed: {allowed}).",
            param="model",
        )
    if limits.budget_nanos is not None and not demand.priced:
        raise ModelUnpriced(
            f"The {who} has a budget, and the model '{demand.model}' has no price this gateway "
            "can bound, so it cannot be charged to it.",
            param="model",
        )


def _parameters(who: str, limits: Limits, demand: Demand) -> None:
    if limits.max_n is not None and demand.n > limits.max_n:
        raise LimitExceeded(
            f"The {who} may ask for at most {limits.max_n} image(s) per request.", param="n"
        )
    if limits.max_pixels is not None and demand.pixels > limits.max_pixels:
        raise LimitExceeded(
            f"The {who} may ask for at most {limits.max_pixels:,} pixels per image; this size "
            f"may render {demand.pixels:,} ('auto' counts as the largest size it may pick).",
            param="size",
        )
    if limits.qualities is not None and demand.quality not in limits.qualities:
        allowed = ", ".join(sorted(limits.qualities))
        raise LimitExceeded(
            f"The {who} may not use quality '{demand.quality}' (allowed: {allowed}).",
            param="quality",
        )
    if limits.max_edit_images is not None and demand.edit_images > limits.max_edit_images:
        raise LimitExceeded(
            f"The {who} may send at most {limits.max_edit_images} image(s) per edit.",
            param="image",
        )


def _rates(who: str, limits: Limits, load: Load, images: int) -> None:
    refusal = None
    if limits.max_concurrent is not None and load.concurrent + 1 > limits.max_concurrent:
        refusal = f"{limits.max_concurrent} request(s) at a time", 1.0
    elif limits.requests_per_minute is not None and load.requests + 1 > limits.requests_per_minute:
        refusal = f"{limits.requests_per_minute} request(s) per minute", load.reset
    elif limits.images_per_minute is not None and load.images + images > limits.images_per_minute:
        refusal = f"{limits.images_per_minute} image(s) per minute", load.reset
    if refusal is None:
        return
    what, wait = refusal
    error = RateLimited(
        f"Rate limit reached for the {who}: {what}. Try again in {math.ceil(wait)} s.",
        retry_after=wait,
    )
    error.headers = rate_headers(limits, load)
    raise error


def rate_headers(limits: Limits, load: Load) -> dict[str, str]:
    """OpenAI's ``x-ratelimit-*`` headers for each limit that is set (images too)."""
    headers: dict[str, str] = {}
    reset = f"{math.ceil(load.reset)}s"
    for name, limit, used in (
        ("requests", limits.requests_per_minute, load.requests),
        ("images", limits.images_per_minute, load.images),
    ):
        if limit is not None:
            headers[f"x-ratelimit-limit-{name}"] = str(limit)
            headers[f"x-ratelimit-remaining-{name}"] = str(max(0, limit - used))
            headers[f"x-ratelimit-reset-{name}"] = reset
    if limits.max_concurrent is not None:
        headers["x-ratelimit-limit-concurrent"] = str(limits.max_concurrent)
        remaining = max(0, limits.max_concurrent - load.concurrent)
        headers["x-ratelimit-remaining-concurrent"] = str(remaining)
    return headers
