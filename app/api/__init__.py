"""The HTTP edge: the only package that imports FastAPI."""

from fastapi import APIRouter

from app.api.endpoints import (
    admin_keys,
    admin_teams,
    admin_usage,
    carriers,
    files,
    images,
    jobs,
    models,
)


def build_router() -> APIRouter:
    router = APIRouter()
    for endpoints in (images, jobs, models, carriers, files):
        router.include_router(endpoints.router)
    for admin in (admin_keys, admin_teams, admin_usage):
        router.include_router(admin.router)
    return router
