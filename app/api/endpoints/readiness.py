"""``GET /readyz``: 200 with each part's state when every check passes, else 503 naming the
failing parts; "degraded" (still 200): a part the gateway goes on without. ``/healthz``
(liveness) stays the cheap answer that the process is up."""

from __future__ import annotations

import orjson
from fastapi import APIRouter
from starlette.responses import Response

from app.api.state import ServicesDep
from app.observability.readiness import Readiness, run_checks

router = APIRouter()


@router.get("/readyz")
async def readyz(services: ServicesDep) -> Response:
    readiness = await run_checks(services.readiness)
    body = {
        "status": _status(readiness),
        "failing": readiness.failing,
        "checks": readiness.parts,
    }
    status = 200 if readiness.ready else 503
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _status(readiness: Readiness) -> str:
    if not readiness.ready:
        return "unready"
    return "degraded" if readiness.degraded else "ready"
