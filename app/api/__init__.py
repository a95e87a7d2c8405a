"""The HTTP edge: the only package that imports FastAPI."""

from fastapi import APIRouter

from app.api.endpoints import (
    admin_keys,
    admin_teams,
    admin_usage,
    carriers,
    files,
    images,
    images_index,
    jobs,
    key,
    metrics,
    models,
    readiness,
)


def build_router() -> APIRouter:
    """One router holding every endpoint module's routes. The routes are copied in rather than
    included router by router: FastAPI matches each included router as a level of its own,
    which costs a measurable share of a small request."""
    router = APIRouter()
    for endpoints in (images, images_index, jobs, models, carriers, files, key, metrics, readiness):
        router.routes.extend(endpoints.router.routes)
    for admin in (admin_keys, admin_teams, admin_usage):
        router.routes.extend(admin.router.routes)
    router.routes.extend(images_index.admin_router.routes)
    return router
