"""Authentication of ``/admin/v1``: admin keys only (``app.access.admin``). No key, or one that
is no key of this gateway, is a 401; a client key is a 403: it is known, but not allowed here."""

from __future__ import annotations

from fastapi import Depends, Request

from app.api.state import ServicesDep
from app.errors import AuthenticationFailed, PermissionDenied


async def require_admin(request: Request, services: ServicesDep) -> None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationFailed(
            "Missing admin key: send 'Authorization: Bearer <admin key>' (IMAGEGATE_ADMIN_KEY "
            "or auth.admin_keys)."
        )
    if services.admin_keys.check(token):
        return
    if not await services.keys.is_open() and await services.keys.authenticate(token) is not None:
        raise PermissionDenied(
            "This is a client key; the admin API needs an admin key.", code="admin_key_required"
        )
    if not services.admin_keys.configured:
        raise AuthenticationFailed(
            "The admin API is off: set IMAGEGATE_ADMIN_KEY (or auth.admin_keys) to use it."
        )
    raise AuthenticationFailed("Incorrect admin key provided.")


AdminOnly = [Depends(require_admin)]
