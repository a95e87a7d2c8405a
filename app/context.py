"""Per-request context shared by the edge and the core (a leaf: imports nothing from app)."""

from __future__ import annotations

from contextvars import ContextVar

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")
