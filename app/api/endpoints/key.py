"""``GET /v1/key``: the calling key's own view of itself: its name and team, its limits and
its team's, what it spent in the current period, the budget left, and the rate-limit state."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from app.access.admission import BudgetState
from app.access.policy import Load
from app.api.auth import PrincipalDep
from app.api.render import json_response
from app.api.state import ServicesDep
from app.core.pricing import usd
from app.domain import Limits

router = APIRouter()


@router.get("/v1/key")
async def get_key(services: ServicesDep, principal: PrincipalDep) -> Response:
    admission = services.admission
    budgets = await admission.budgets(principal)
    loads = await admission.loads(principal)
    team = None
    if principal.team is not None:
        team = {
            "id": principal.team,
            "name": principal.team_name,
            "limits": _limits(principal.team_limits),
            "budget": _budget(budgets.get("team")),
            "rate_limits": _rates(principal.team_limits, loads.get("team")),
        }
    expires = principal.expires_at
    return json_response(
        {
            "object": "key",
            "id": principal.id,
            "name": principal.name,
            "expires_at": None if expires is None else int(expires.timestamp()),
            "limits": _limits(principal.limits),
            "budget": _budget(budgets.get("key")),
            "rate_limits": _rates(principal.limits, loads.get("key")),
            "team": team,
        }
    )


def _limits(limits: Limits) -> dict[str, Any]:
    return {
        "models": None if limits.models is None else sorted(limits.models),
        "max_n": limits.max_n,
        "max_pixels": limits.max_pixels,
        "qualities": None if limits.qualities is None else sorted(limits.qualities),
        "max_edit_images": limits.max_edit_images,
        "images_per_minute": limits.images_per_minute,
        "requests_per_minute": limits.requests_per_minute,
        "max_concurrent": limits.max_concurrent,
        "budget_usd": None if limits.budget_nanos is None else usd(limits.budget_nanos),
        "budget_period": limits.budget_period,
    }


def _budget(state: BudgetState | None) -> dict[str, Any] | None:
    """Exact USD strings: what is spent, what running requests hold, and what is left."""
    if state is None:
        return None
    spend = state.spend
    left = max(0, state.budget_nanos - spend.spent_nanos - spend.held_nanos)
    return {
        "usd": usd(state.budget_nanos),
        "period": state.period,
        "period_start": int(state.period_start.timestamp()),
        "spent_usd": usd(spend.spent_nanos),
        "held_usd": usd(spend.held_nanos),
        "remaining_usd": usd(left),
    }


def _rates(limits: Limits, load: Load | None) -> dict[str, Any]:
    load = load or Load()
    out: dict[str, Any] = {}
    for name, limit, used, reset in (
        ("requests_per_minute", limits.requests_per_minute, load.requests, load.reset),
        ("images_per_minute", limits.images_per_minute, load.images, load.reset),
        ("concurrent", limits.max_concurrent, load.concurrent, None),
    ):
        if limit is not None:
            out[name] = {"limit": limit, "used": used, "remaining": max(0, limit - used)}
            if reset is not None:
                out[name]["reset_seconds"] = round(reset, 3)
    return out
