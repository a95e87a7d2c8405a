"""The database for the management commands (``keys``, ``teams``, ``usage``): the same
settings as ``serve`` (``IMAGEGATE_DATABASE_URL``, else the config's ``database.url``), migrated
first, so they work on a host where the gateway is not running. Errors are one line on stderr."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from app.access.registry import Registry
from app.cli.common import configured_or_exit
from app.config.settings import database_url
from app.core.catalog import build_catalog
from app.db.engine import create_engine
from app.db.migrate import upgrade
from app.db.urls import DatabaseURLError, mask, masked
from app.errors import GatewayError
from app.usage.reports import Reports

T = TypeVar("T")
Action = Callable[[Registry, Reports], Awaitable[T]]


def run_with_store(args: argparse.Namespace, action: Action[int]) -> int:
    """Run ``action`` against the configured database; its exit code, or 1 or 2 after one line
    on stderr (a refused change, a bad value, an unreachable database)."""
    configured = configured_or_exit(args.config)
    if configured is None:
        return 2
    settings, config = configured.settings, configured.config
    url = database_url(settings, config)
    catalog = build_catalog(config)

    async def main() -> int:
        await upgrade(url)
        engine = create_engine(url, pool_size=1, max_overflow=0)
        try:
            registry = Registry(engine, resolve_model=lambda name: catalog.resolve(name).name)
            return await action(registry, Reports(engine))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except GatewayError as exc:
        where = f" ({exc.param})" if exc.param else ""
        print(f"imagegate: {exc.message}{where}", file=sys.stderr)
        return 1
    except ValidationError as exc:
        print(f"imagegate: {one_line(exc)}", file=sys.stderr)
        return 2
    except (DatabaseURLError, OSError, SQLAlchemyError) as exc:
        print(f"imagegate: database {masked(url)}: {mask(str(exc))}", file=sys.stderr)
        return 1


def one_line(exc: ValidationError) -> str:
    """A pydantic error as options people typed: ``--max-n: Input should be greater than 0``."""
    parts = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "value"
        parts.append(f"--{field.replace('_', '-')}: {error['msg']}")
    return "; ".join(parts)
