"""The image index over HTTP: ``GET /v1/images`` (the calling key's own images, newest first,
``?cursor=&limit=&request_id=``), ``GET /v1/images/{id}`` and ``DELETE /v1/images/{id}``; and
``GET /admin/v1/images?key_id=&team_id=`` for admins (``app.images_index``).

A key sees only its own images: another key's image is a 404, exactly like an unknown id. The
owner is the principal the auth layer gives: a database key, a config-file key (its
``key_<hash>`` id), or on a gateway without keys the one anonymous caller, ``open``.
An image id is 22 URL-safe characters; the path matches nothing else, so the neighbours
(``/v1/images/generations``, ``/edits``) keep their own answers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Query, Request
from starlette.convertors import Convertor, register_url_convertor
from starlette.responses import Response

from app.access.views import unix
from app.api.admin_auth import AdminOnly
from app.api.auth import PrincipalDep
from app.api.endpoints.admin_keys import answer
from app.api.request_meta import public_base_url
from app.api.state import ServicesDep
from app.domain import Principal
from app.errors import InvalidRequest, NotFound
from app.images_index.policy import url_mode_of
from app.images_index.store import ImageFilter, IndexedImage, Page
from app.wiring import Services

Mint = Callable[[IndexedImage], tuple[str, int | None]]  # an image -> its URL and its expiry


class ImageIdConvertor(Convertor[str]):
    regex = "[A-Za-z0-9_-]{22}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("image_id", ImageIdConvertor())
router = APIRouter()
admin_router = APIRouter(prefix="/admin/v1/images", dependencies=AdminOnly)
_PRINTABLE_ID = re.compile(r"^[\x21-\x7e]{1,64}$")

Limit = Query(20, ge=1, le=100, description="images per page")


@router.get("/v1/images")
async def list_images(
    request: Request,
    services: ServicesDep,
    principal: PrincipalDep,
    cursor: str | None = None,
    limit: int = Limit,
    request_id: str | None = None,
) -> Response:
    where = ImageFilter(key_id=principal.id, request_id=_checked(request_id, "request_id"))
    page = await services.images.page(where, after=cursor, limit=limit)
    return answer(_list(page, _minter(request, services, principal), admin=False))


@router.get("/v1/images/{image_id:image_id}")
async def get_image(
    image_id: str, request: Request, services: ServicesDep, principal: PrincipalDep
) -> Response:
    image = await services.images.get(image_id, principal.id)
    if image is None:
        raise _missing(image_id)
    return answer(image_json(image, _minter(request, services, principal), admin=False))


@router.delete("/v1/images/{image_id:image_id}")
async def delete_image(image_id: str, services: ServicesDep, principal: PrincipalDep) -> Response:
    """Delete the bytes, then mark the record; repeating it answers the same."""
    index = services.images
    image = await index.owned(image_id, principal.id)
    if image is None:
        raise _missing(image_id)
    if image.deleted_at is None:
        await services.storage.delete(image.ref)  # StorageFailed: 500, the record stays
        await index.mark_deleted([image.id])
    return answer({"id": image.id, "object": "image", "deleted": True})


@admin_router.get("")
async def admin_list_images(
    request: Request,
    services: ServicesDep,
    key_id: str | None = None,
    team_id: str | None = None,
    cursor: str | None = None,
    limit: int = Limit,
    request_id: str | None = None,
) -> Response:
    where = ImageFilter(
        key_id=_checked(key_id, "key_id"),
        team_id=_checked(team_id, "team_id"),
        request_id=_checked(request_id, "request_id"),
    )
    page = await services.images.page(where, after=cursor, limit=limit)
    return answer(_list(page, _minter(request, services, None), admin=True))


def image_json(image: IndexedImage, mint: Mint, *, admin: bool) -> dict[str, Any]:
    url, url_expires_at = mint(image)
    item: dict[str, Any] = {
        "id": image.id,
        "object": "image",
        "request_id": image.request_id,
        "url": url,
        "url_expires_at": url_expires_at,
        "created": unix(image.created_at),
        "expires_at": unix(image.expires_at),
        "format": image.format,
        "width": image.width,
        "height": image.height,
        "bytes": image.bytes,
        "model": image.model,
        "prompt": image.prompt,
    }
    if admin:
        item |= {"key_id": image.key_id, "team_id": image.team_id, "backend": image.backend}
    return item


def _list(page: Page, mint: Mint, *, admin: bool) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [image_json(image, mint, admin=admin) for image in page.images],
        "has_more": page.has_more,
        "next_cursor": page.next_cursor,
    }


def _minter(request: Request, services: Services, principal: Principal | None) -> Mint:
    """The one place index answers mint image URLs: the storage's, for the request's public
    base URL, in the key's URL mode (``app.images_index.policy.url_mode_of``), with expiry."""
    base_url = public_base_url(request, services.config.storage, services.config.server)
    storage = services.storage

    mode = None if principal is None else url_mode_of(principal)  # admins: the deployment's

    def mint(image: IndexedImage) -> tuple[str, int | None]:
        minted = storage.url(image.ref, base_url, mode=mode)
        return minted.url, minted.expires_at

    return mint


def _checked(value: str | None, param: str) -> str | None:
    """An id to filter by: 1 to 64 printable ASCII characters (no NUL for the database);
    empty is no filter."""
    if not value:
        return None
    if not _PRINTABLE_ID.match(value):
        raise InvalidRequest(f"{param} is 1 to 64 printable ASCII characters.", param=param)
    return value


def _missing(image_id: str) -> NotFound:
    return NotFound(f"No image '{image_id}'.", param="image_id")
