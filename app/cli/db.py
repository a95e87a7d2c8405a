"""``imagegate db upgrade|current``: migrate the database, or show its revision.

It reads the same settings as ``serve`` (``IMAGEGATE_DATABASE_URL``, else the config's
``database.url``), so it works on a host where the gateway is not running.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from app.cli.common import add_config_option, load_or_exit, settings_or_exit
from app.config.settings import database_url

HELP = "migrate the database (upgrade) or show its revision (current)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action",
        choices=("upgrade", "current"),
        help="upgrade: apply every migration; current: show the revision (exit 1 if behind)",
    )
    add_config_option(parser)


def run(args: argparse.Namespace) -> int:
    # Imported here: SQLAlchemy and Alembic cost ~35 MB that other subcommands need not pay.
    from sqlalchemy.exc import SQLAlchemyError

    from app.db.migrate import current, head, upgrade
    from app.db.urls import DatabaseURLError, mask, masked

    settings = settings_or_exit()
    if settings is None:
        return 2
    if settings.database_url and not args.config:
        url = settings.database_url.get_secret_value()
    else:
        loaded = load_or_exit(args.config, settings)
        if loaded is None:
            return 2
        url = database_url(settings, loaded[0])
    try:
        revision = asyncio.run(upgrade(url) if args.action == "upgrade" else current(url))
    except (DatabaseURLError, OSError, SQLAlchemyError) as exc:
        print(f"imagegate: database {masked(url)}: {mask(str(exc))}", file=sys.stderr)
        return 1
    latest = head()
    print(f"{masked(url)}: revision {revision or 'none'} (newest: {latest})")
    return 0 if revision == latest else 1
