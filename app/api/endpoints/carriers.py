"""``GET /v1/carriers``: each carrier's live state (enabled, healthy or cooling down, errors)."""

from __future__ import annotations

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
        until = status.cooling_until
        enabled = carrier.name in services.enabled_carriers
        data.append(
            {
                "name": carrier.name,
                "kind": carrier.kind,
                "enabled": enabled,
                "state": status.state if enabled else "disabled",
                "cooling_until": datetime.fromtimestamp(until, UTC).isoformat() if until else None,
                "recent_failures": status.recent_failures,
                "successes": status.successes,
                "last_error": status.last_error,
            }
        )
    return json_response({"object": "list", "data": data})
