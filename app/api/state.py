"""Typed access to the app-scoped services that ``app.wiring`` builds at start-up."""

from __future__ import annotations

from typing import Annotated, TypedDict

from fastapi import Depends, Request

from app.wiring import Services


class State(TypedDict):
    services: Services


async def get_services(request: Request) -> Services:  # async: FastAPI runs sync ones in a thread
    return services_of(request)


def services_of(request: Request) -> Services:
    """The services, read from the lifespan state without FastAPI's dependency solver."""
    services: Services = request.scope["state"]["services"]
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
