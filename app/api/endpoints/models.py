"""``GET /v1/models`` and ``/v1/models/{id}``: configured models and their aliases."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from app.api.auth import PrincipalDep
from app.api.render import json_response
from app.api.state import ServicesDep

router = APIRouter()


@router.get("/v1/models")
async def list_models(services: ServicesDep, _: PrincipalDep) -> Response:
    entries = services.catalog.entries()
    data = [_model(model_id, spec.created, spec.owned_by) for model_id, spec in entries]
    return json_response({"object": "list", "data": data})


@router.get("/v1/models/{model_id:path}")
async def get_model(model_id: str, services: ServicesDep, _: PrincipalDep) -> Response:
    spec = services.catalog.resolve(model_id)
    return json_response(_model(model_id, spec.created, spec.owned_by))


def _model(model_id: str, created: int, owned_by: str) -> dict[str, object]:
    return {"id": model_id, "object": "model", "created": created, "owned_by": owned_by}
