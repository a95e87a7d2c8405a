"""Alembic's entry point, run by ``app.db.migrate`` on a connection it already holds (and has
locked); there is no ``alembic.ini`` and no offline mode."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection

from app.db.models import Base
from app.db.types import UtcDateTime


def _render_item(kind: str, item: Any, autogen: AutogenContext) -> str | Literal[False]:
    """Render app types as plain SQLAlchemy ones: a migration must not change when app code
    does later."""
    if kind == "type" and isinstance(item, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",  # ALTER through table copies
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


_connection = context.config.attributes.get("connection")
if not isinstance(_connection, Connection):
    raise RuntimeError("migrations run through app.db.migrate.upgrade (imagegate db upgrade)")
run(_connection)
