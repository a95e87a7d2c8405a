"""Authentication at the edge: the bearer token becomes a :class:`Principal` through the key
store (``app.access.keys``); the edge only reads the header and renders refusals."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.api.state import ServicesDep
from app.domain import Principal
from app.errors import AuthenticationFailed


async def get_principal(request: Request, services: ServicesDep) -> Principal:
    """Check ``Authorization: Bearer <key>`` against the gateway keys (open when there are none)."""
    keys = services.keys
    if keys.open:
        return keys.anonymous
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed(
            "Missing API key: send 'Authorization: Bearer <key>' with a key of this gateway."
        )
    principal = keys.authenticate(token.strip())
    if principal is None:
        raise AuthenticationFailed("Incorrect API key provided.")
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]
