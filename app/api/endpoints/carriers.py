"""``GET /v1/carriers``: each carrier's live state (enabled, healthy or cooling down, errors)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from fastapi import APIRouter
from starlette.responses import Response

from app.api.auth import PrincipalDep
from app.api.render import json_response
from app.api.state import ServicesDep

router = APIRouter()


@router.get("/v1/carriers")
async def list_carriers(services: ServicesDep, _: PrincipalDep) -> Response:
    data = []
    for carrier in services.config.carriers:
        status = await services.circuits.status(carrier.name)
        enabled = carrier.name in services.enabled_carriers
        data.append(
            {
                "name": carrier.name,
                "kind": carrier.kind,
                "enabled": enabled,
                "state": status.state if enabled else "disabled",
                "cooling_until": _wall_time_in(status.cooling_for),
                "recent_failures": status.recent_failures,
                "successes": status.successes,
                "last_error": status.last_error,
            }
        )
    return json_response({"object": "list", "data": data})


def _wall_time_in(seconds: float | None) -> str | None:
    """When a cooldown ends, as a date: derived from the wall clock only for display."""
    if seconds is None:
        return None
    return datetime.fromtimestamp(time.time() + seconds, UTC).isoformat()
