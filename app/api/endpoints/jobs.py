"""``GET /v1/images/jobs/{id}``: an async job's state, visible only to the key that made it."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from app.api import render
from app.api.auth import PrincipalDep
from app.api.state import ServicesDep
from app.errors import NotFound

router = APIRouter()


@router.get("/v1/images/jobs/{job_id}")
async def get_job(job_id: str, services: ServicesDep, principal: PrincipalDep) -> Response:
    record = await services.jobs.get(job_id, principal.id)
    if record is None:
        raise NotFound(f"No image job '{job_id[:100]}' (it may have expired).", param="job_id")
    return render.job_status(record)
