"""The ``imagegate`` command: one module per subcommand, listed in :data:`COMMANDS`.

``imagegate`` alone prints the help; ``imagegate --version`` the version. Every option's help
shows its default. Errors are one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from types import ModuleType

from app import __version__
from app.cli import check_carriers, check_config, db, keys, serve, storage, teams, usage
from app.cli.common import HelpWithDefaults, Parser

# name -> module with HELP, add_arguments(parser) and run(args) -> exit code
COMMANDS: dict[str, ModuleType] = {
    "serve": serve,
    "check-config": check_config,
    "check-carriers": check_carriers,
    "db": db,
    "keys": keys,
    "teams": teams,
    "usage": usage,
    "storage": storage,
}


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="imagegate",
        description="Imagegate: an OpenAI-compatible gateway for image generation.",
        formatter_class=HelpWithDefaults,
    )
    parser.add_argument("--version", action="version", version=f"imagegate {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in COMMANDS.items():
        sub = commands.add_parser(
            name,
            help=module.HELP,
            description=module.HELP,
            formatter_class=HelpWithDefaults,
        )
        module.add_arguments(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    code: int = COMMANDS[args.command].run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
