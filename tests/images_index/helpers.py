"""What the image index tests share: a small upstream answer, a config with keys and an
admin key, rows written straight into the index, and waiting for the ledger's batch."""

from __future__ import annotations

import asyncio
import base64
import secrets
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.models import ImageRecord
from tests.support.config import UPSTREAM
from tests.support.images import png_bytes

GENERATIONS = f"{UPSTREAM}/images/generations"
PNG = png_bytes((16, 12))
OK = httpx.Response(
    200, json={"created": 1, "data": [{"b64_json": base64.b64encode(PNG).decode()}]}
)
ADMIN = {"authorization": "Bearer adm-index-1"}
FLUSH = 0.05


def keyed(data: dict[str, Any]) -> None:
    """Config keys, an admin key, and a quick ledger."""
    data["auth"] = {"keys": ["gk-config"], "admin_keys": ["adm-index-1"], "key_cache_ttl": 0.1}
    data["ledger"] = {"flush_interval": FLUSH}


def new_id() -> str:
    return secrets.token_urlsafe(16)


async def add_images(
    engine: AsyncEngine, key_id: str, moments: list[datetime], **values: Any
) -> list[str]:
    """Index rows for ``key_id`` made at ``moments`` (no bytes behind them); their ids."""
    rows = [
        {
            "id": new_id(),
            "request_id": "req-" + secrets.token_hex(4),
            "key_id": key_id,
            "team_id": None,
            "model": "gpt-image-2",
            "created_at": moment,
            "format": "png",
            "width": 16,
            "height": 12,
            "bytes": 100,
            "location": "x.png",
            "expires_at": None,
            "deleted_at": None,
            "prompt": "p",
            **values,
        }
        for moment in moments
    ]
    async with engine.begin() as connection:
        await connection.execute(insert(ImageRecord), rows)
    return [row["id"] for row in rows]


async def indexed(
    client: httpx.AsyncClient, headers: dict[str, str], request_id: str, count: int = 1
) -> list[dict[str, Any]]:
    """The index items of one request, once the ledger has written ``count`` of them."""
    deadline = time.monotonic() + 10
    while True:
        response = await client.get(
            "/v1/images", params={"request_id": request_id}, headers=headers
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["data"]
        if len(items) >= count:
            return items
        if time.monotonic() > deadline:
            raise AssertionError(f"request {request_id}: no index record within 10 s")
        await asyncio.sleep(0.01)


async def records(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as connection:
        return list((await connection.execute(select(ImageRecord))).all())


def now() -> datetime:
    return datetime.now(UTC)
