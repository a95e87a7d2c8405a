"""``imagegate storage migrate --to s3``: copy the local disk's images into the object store
configured in the ``storage`` section (bucket, endpoint_url, ...; credentials from the
environment), keeping their URLs working, and record in the image index (the database of
``serve``: ``IMAGEGATE_DATABASE_URL``, else ``database.url``) that they live there now. Switch
``storage.backend`` to ``s3`` afterwards. Run again after a failure: what is already copied is
skipped, and its index rows are still updated."""

from __future__ import annotations

import argparse
import asyncio
import sys

from sqlalchemy.exc import SQLAlchemyError

from app.cli.common import add_config_option, configured_or_exit
from app.config import ConfigError
from app.config.settings import database_url
from app.db.engine import create_engine
from app.db.migrate import upgrade
from app.db.urls import DatabaseURLError, mask, masked
from app.images_index.store import ImageIndex
from app.storage import BACKENDS, make_storage
from app.storage.migrate import Migration, Target, migrate

HELP = "copy the local disk's images into another storage backend (their URLs keep working)"
TARGETS = sorted(set(BACKENDS) - {"local"})  # the backends images can be copied into


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    move = actions.add_parser("migrate", help=HELP, description=HELP)
    move.add_argument("--to", choices=TARGETS, required=True, help="the backend to copy into")
    move.add_argument(
        "--delete-local",
        action="store_true",
        help="remove each local file once its copy is stored",
    )
    add_config_option(move)


def run(args: argparse.Namespace) -> int:
    configured = configured_or_exit(args.config)
    if configured is None:
        return 2
    config = configured.config
    storage = config.storage
    try:
        target = make_storage(storage.model_copy(update={"backend": args.to}))
    except ConfigError as exc:
        print(f"imagegate: invalid config: {exc}", file=sys.stderr)
        return 2
    if not isinstance(target, Target):
        print(f"imagegate: storage backend {args.to!r} cannot be migrated into", file=sys.stderr)
        return 2
    url = database_url(configured.settings, config)
    indexed = 0

    async def main() -> Migration:
        nonlocal indexed
        await upgrade(url)
        engine = create_engine(url, pool_size=1, max_overflow=0)
        index = ImageIndex(engine)

        async def moved(image_ids: list[str]) -> None:
            nonlocal indexed
            indexed += await index.move(image_ids, args.to)

        try:
            return await migrate(
                storage.directory, target, delete_local=args.delete_local, moved=moved
            )
        finally:
            await engine.dispose()

    try:
        done = asyncio.run(main())
    except (DatabaseURLError, OSError, SQLAlchemyError) as exc:
        print(f"imagegate: database {masked(url)}: {mask(str(exc))}", file=sys.stderr)
        print("imagegate: run the migration again once the database answers", file=sys.stderr)
        return 1
    print(
        f"copied {done.copied} image(s) to {args.to}, {done.present} already there, "
        f"{done.failed} failed; {indexed} image index row(s) now say {args.to}"
    )
    return 1 if done.failed else 0
