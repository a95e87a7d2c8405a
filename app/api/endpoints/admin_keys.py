"""``/admin/v1/keys``: create (the secret is in the answer once, as ``key``), list, show,
update a key's policy, rotate it with a grace period, and revoke it. Admin keys only."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter
from starlette.responses import Response

from app.access.fields import KeyCreate, KeyUpdate, Rotation
from app.access.views import KeyView
from app.api.admin_auth import AdminOnly
from app.api.state import ServicesDep
from app.wiring import Services

router = APIRouter(prefix="/admin/v1/keys", dependencies=AdminOnly)


@router.post("")
async def create_key(body: KeyCreate, services: ServicesDep) -> Response:
    view, secret = await services.registry.create_key(body)
    return with_secret(services, view, secret, status=201)


@router.get("")
async def list_keys(
    services: ServicesDep, team: str | None = None, include_revoked: bool = False
) -> Response:
    registry = services.registry
    views = await registry.list_keys(team=team, revoked=include_revoked)
    now = registry.now()
    return answer({"object": "list", "data": [view.as_json(now) for view in views]})


@router.get("/{key_id}")
async def get_key(key_id: str, services: ServicesDep) -> Response:
    view = await services.registry.get_key(key_id)
    return answer(view.as_json(services.registry.now()))


@router.patch("/{key_id}")
async def update_key(key_id: str, body: KeyUpdate, services: ServicesDep) -> Response:
    view = await services.registry.update_key(key_id, body)
    return answer(view.as_json(services.registry.now()))


@router.post("/{key_id}/rotate")
async def rotate_key(key_id: str, services: ServicesDep, body: Rotation | None = None) -> Response:
    grace = (body or Rotation()).grace_seconds
    view, secret = await services.registry.rotate_key(key_id, grace)
    return with_secret(services, view, secret)


@router.delete("/{key_id}")
async def revoke_key(key_id: str, services: ServicesDep) -> Response:
    view = await services.registry.revoke_key(key_id)
    return answer(view.as_json(services.registry.now()))


def with_secret(services: Services, view: KeyView, secret: str, status: int = 200) -> Response:
    """The key with its secret, which is never shown again (and never cached on the way)."""
    response = answer({**view.as_json(services.registry.now()), "key": secret}, status)
    response.headers["cache-control"] = "no-store"
    return response


def answer(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")
