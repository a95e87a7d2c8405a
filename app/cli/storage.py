"""``imagegate storage migrate --to s3``: copy the local disk's images into the object store
configured in the ``storage`` section (bucket, endpoint_url, ...; credentials from the
environment), keeping their URLs working. Switch ``storage.backend`` to ``s3`` afterwards."""

from __future__ import annotations

import argparse
import asyncio
import sys

from app.cli.common import add_config_option, configured_or_exit
from app.config import ConfigError
from app.storage import BACKENDS, make_storage
from app.storage.migrate import Target, migrate

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
    done = asyncio.run(migrate(storage.directory, target, delete_local=args.delete_local))
    print(
        f"copied {done.copied} image(s) to {args.to}, {done.present} already there, "
        f"{done.failed} failed"
    )
    return 1 if done.failed else 0
