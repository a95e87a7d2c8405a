"""``/admin/v1/usage``: totals grouped by key, team, model, carrier or day; and
``/admin/v1/usage/records``: the ledger page by page, or all of it as CSV (``Accept: text/csv``),
streamed. ``since`` and ``until`` take a UTC date (whole days, both included) or a time (ISO
8601 or Unix seconds; ``until`` excluded). Admin keys only."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from starlette.responses import Response, StreamingResponse

from app.api.admin_auth import AdminOnly
from app.api.endpoints.admin_keys import answer
from app.api.state import ServicesDep
from app.usage.reports import GroupBy, usage_filter

router = APIRouter(prefix="/admin/v1/usage", dependencies=AdminOnly)


@router.get("")
async def usage_summary(
    services: ServicesDep,
    since: str | None = None,
    until: str | None = None,
    key: str | None = None,
    team: str | None = None,
    model: str | None = None,
    group_by: GroupBy = "key",
) -> Response:
    where = usage_filter(since, until, key, team, model)
    data = await services.reports.summary(group_by, where)
    return answer({"object": "list", "group_by": group_by, "data": data})


@router.get("/records")
async def usage_records(
    request: Request,
    services: ServicesDep,
    since: str | None = None,
    until: str | None = None,
    key: str | None = None,
    team: str | None = None,
    model: str | None = None,
    cursor: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
) -> Response:
    where = usage_filter(since, until, key, team, model)
    if "text/csv" in request.headers.get("accept", ""):
        return StreamingResponse(
            services.reports.csv(where),
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": 'attachment; filename="usage.csv"'},
        )
    page, next_cursor = await services.reports.records(where, after=cursor, limit=limit)
    body = {
        "object": "list",
        "data": page,
        "has_more": next_cursor is not None,
        "next_cursor": next_cursor,
    }
    return answer(body)
