"""``imagegate keys create|list|show|update|rotate|revoke``: client keys, straight in the
database (no running gateway needed). ``create`` and ``rotate`` print the new secret once,
alone on stdout (``KEY=$(imagegate keys create --name alice)``); the rest goes to stderr."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from app.access.fields import KeyCreate, KeyUpdate
from app.access.registry import Registry
from app.access.views import KeyView
from app.cli.common import add_config_option
from app.cli.policy_options import (
    add_policy_options,
    duration,
    expiry,
    policy_values,
    show,
    table,
    when,
)
from app.cli.store import run_with_store

HELP = "manage client keys: create, list, show, update, rotate, revoke"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="create a key and print its secret once")
    create.add_argument("--name", required=True, help="who or what the key is for")
    _key_options(create)
    listing = actions.add_parser("list", help="list keys (a prefix of each, never the secret)")
    listing.add_argument("--team", help="only this team's keys (name or id)")
    listing.add_argument("--all", action="store_true", help="revoked keys too")
    for name, text in (("show", "show one key"), ("revoke", "revoke a key at once")):
        actions.add_parser(name, help=text).add_argument("key", help="key id or name")
    update = actions.add_parser("update", help="change a key's name, team or policy")
    update.add_argument("key", help="key id or name")
    update.add_argument("--name", help="a new name")
    _key_options(update)
    rotate = actions.add_parser("rotate", help="a new secret; the old one works a while longer")
    rotate.add_argument("key", help="key id or name")
    rotate.add_argument(
        "--grace",
        type=duration,
        default=86_400,
        help="how long the old secret keeps working: 90s, 15m, 12h, 7d (default: 24h)",
    )
    for sub in actions.choices.values():
        add_config_option(sub)


def _key_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--team", help="team name or id (a new name creates the team)")
    parser.add_argument(
        "--expires",
        type=expiry,
        default=argparse.SUPPRESS,
        help="a date, a time, a duration from now (90d), or none",
    )
    add_policy_options(parser)
    parser.add_argument("--json", action="store_true", help="print the key as JSON")


def run(args: argparse.Namespace) -> int:
    return run_with_store(args, lambda registry, _reports: _ACTIONS[args.action](registry, args))


async def _create(registry: Registry, args: argparse.Namespace) -> int:
    fields = KeyCreate.model_validate({"name": args.name, **_given(args)})
    view, secret = await registry.create_key(fields)
    if args.json:
        show({**view.as_json(registry.now()), "key": secret})
    else:
        print(secret)
        team = f" in team {view.team.name}" if view.team else ""
        print(
            f"created key {view.name} ({view.id}){team}: the secret above is shown only once",
            file=sys.stderr,
        )
    return 0


async def _list(registry: Registry, args: argparse.Namespace) -> int:
    views = await registry.list_keys(team=args.team, revoked=args.all)
    now = registry.now()
    rows = [_row(view.as_json(now)) for view in views]
    table(rows, ["ID", "NAME", "TEAM", "PREFIX", "STATUS", "BUDGET", "EXPIRES"])
    return 0


async def _show(registry: Registry, args: argparse.Namespace) -> int:
    show((await registry.get_key(args.key)).as_json(registry.now()))
    return 0


async def _update(registry: Registry, args: argparse.Namespace) -> int:
    values = _given(args)
    if args.name is not None:
        values["name"] = args.name
    view = await registry.update_key(args.key, KeyUpdate.model_validate(values))
    show(view.as_json(registry.now()))
    return 0


async def _rotate(registry: Registry, args: argparse.Namespace) -> int:
    view, secret = await registry.rotate_key(args.key, args.grace)
    print(secret)
    print(
        f"rotated key {view.name} ({view.id}): the old secret works until "
        f"{when(view.as_json(registry.now())['previous_key_expires_at'])} UTC",
        file=sys.stderr,
    )
    return 0


async def _revoke(registry: Registry, args: argparse.Namespace) -> int:
    view: KeyView = await registry.revoke_key(args.key)
    print(f"revoked key {view.name} ({view.id})")
    return 0


def _given(args: argparse.Namespace) -> dict[str, Any]:
    values = policy_values(args)
    if args.team is not None:
        values["team"] = None if args.team.strip().lower() == "none" else args.team
    if hasattr(args, "expires"):
        values["expires_at"] = args.expires
    return values


def _row(key: dict[str, Any]) -> list[str]:
    budget = "-" if key["budget_usd"] is None else f"${key['budget_usd']:g}/{key['budget_period']}"
    team = key["team"]["name"] if key["team"] else "-"
    return [
        key["id"],
        key["name"],
        team,
        key["prefix"] + "…",
        key["status"],
        budget,
        when(key["expires_at"]),
    ]


_ACTIONS: dict[str, Any] = {
    "create": _create,
    "list": _list,
    "show": _show,
    "update": _update,
    "rotate": _rotate,
    "revoke": _revoke,
}
