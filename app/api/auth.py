"""Authentication at the edge: the bearer token becomes a :class:`Principal` through the key
store (``app.access.keys``) and the policy's first step (unknown, revoked or expired: 401);
the edge only reads the header and renders refusals."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request

from app.access import policy
from app.api.state import ServicesDep
from app.domain import Principal
from app.errors import AuthenticationFailed
from app.wiring import Services


async def get_principal(request: Request, services: ServicesDep) -> Principal:
    """The dependency form of :func:`authenticate`, for endpoints off the hot path."""
    return await authenticate(request, services)


async def authenticate(request: Request, services: Services) -> Principal:
    """Check ``Authorization: Bearer <key>`` against the gateway keys (open when there are
    none: then a key that is known still identifies its owner, and any other is ignored).
    A plain function: the image endpoints call it themselves rather than through FastAPI's
    dependency solver, which costs a measurable share of a small request."""
    keys = services.keys
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    principal = await keys.authenticate(token) if token else None
    if principal is None and await keys.is_open():
        return keys.anonymous
    if not token:
        raise AuthenticationFailed(
            "Missing API key: send 'Authorization: Bearer <key>' with a key of this gateway."
        )
    return policy.check(principal, datetime.now(UTC))


PrincipalDep = Annotated[Principal, Depends(get_principal)]
