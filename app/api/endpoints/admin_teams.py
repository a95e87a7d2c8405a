"""``/admin/v1/teams``: create, list, show, update a team's policy (it caps all of its keys
together), and delete a team that has no active keys. Admin keys only."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from app.access.fields import TeamCreate, TeamUpdate
from app.api.admin_auth import AdminOnly
from app.api.endpoints.admin_keys import answer
from app.api.state import ServicesDep

router = APIRouter(prefix="/admin/v1/teams", dependencies=AdminOnly)


@router.post("")
async def create_team(body: TeamCreate, services: ServicesDep) -> Response:
    view = await services.registry.create_team(body)
    return answer(view.as_json(services.registry.now()), status=201)


@router.get("")
async def list_teams(services: ServicesDep, include_deleted: bool = False) -> Response:
    registry = services.registry
    views = await registry.list_teams(deleted=include_deleted)
    now = registry.now()
    return answer({"object": "list", "data": [view.as_json(now) for view in views]})


@router.get("/{team_id}")
async def get_team(team_id: str, services: ServicesDep) -> Response:
    view = await services.registry.get_team(team_id)
    return answer(view.as_json(services.registry.now()))


@router.patch("/{team_id}")
async def update_team(team_id: str, body: TeamUpdate, services: ServicesDep) -> Response:
    view = await services.registry.update_team(team_id, body)
    return answer(view.as_json(services.registry.now()))


@router.delete("/{team_id}")
async def delete_team(team_id: str, services: ServicesDep) -> Response:
    view = await services.registry.delete_team(team_id)
    return answer(view.as_json(services.registry.now()))
