"""The HTTP edge: the only package that imports FastAPI."""

from fastapi import APIRouter

from app.api.endpoints import carriers, files, images, jobs, key, models


def build_router() -> APIRouter:
    router = APIRouter()
    for endpoints in (images, jobs, models, carriers, files, key):
        router.include_router(endpoints.router)
    return router
