"""``imagegate teams create|list|show|update|delete``: teams, whose policy caps all of their
keys together, straight in the database (no running gateway needed)."""

from __future__ import annotations

import argparse
from typing import Any

from app.access.fields import TeamCreate, TeamUpdate
from app.access.registry import Registry
from app.cli.common import add_config_option
from app.cli.policy_options import add_policy_options, policy_values, show, table
from app.cli.store import run_with_store

HELP = "manage teams: create, list, show, update, delete"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="create a team")
    create.add_argument("name", help="the team's name")
    add_policy_options(create)
    listing = actions.add_parser("list", help="list teams")
    listing.add_argument("--all", action="store_true", help="deleted teams too")
    for name, text in (("show", "show one team"), ("delete", "delete a team with no keys")):
        actions.add_parser(name, help=text).add_argument("team", help="team id or name")
    update = actions.add_parser("update", help="change a team's name or policy")
    update.add_argument("team", help="team id or name")
    update.add_argument("--name", help="a new name")
    add_policy_options(update)
    for sub in actions.choices.values():
        add_config_option(sub)


def run(args: argparse.Namespace) -> int:
    return run_with_store(args, lambda registry, _reports: _ACTIONS[args.action](registry, args))


async def _create(registry: Registry, args: argparse.Namespace) -> int:
    view = await registry.create_team(
        TeamCreate.model_validate({"name": args.name, **policy_values(args)})
    )
    show(view.as_json(registry.now()))
    return 0


async def _list(registry: Registry, args: argparse.Namespace) -> int:
    now = registry.now()
    teams = [view.as_json(now) for view in await registry.list_teams(deleted=args.all)]
    rows = [
        [team["id"], team["name"], team["status"], str(team["keys"]), _budget(team)]
        for team in teams
    ]
    table(rows, ["ID", "NAME", "STATUS", "KEYS", "BUDGET"])
    return 0


async def _show(registry: Registry, args: argparse.Namespace) -> int:
    show((await registry.get_team(args.team)).as_json(registry.now()))
    return 0


async def _update(registry: Registry, args: argparse.Namespace) -> int:
    values = policy_values(args)
    if args.name is not None:
        values["name"] = args.name
    view = await registry.update_team(args.team, TeamUpdate.model_validate(values))
    show(view.as_json(registry.now()))
    return 0


async def _delete(registry: Registry, args: argparse.Namespace) -> int:
    view = await registry.delete_team(args.team)
    print(f"deleted team {view.name} ({view.id})")
    return 0


def _budget(team: dict[str, Any]) -> str:
    budget = team["budget_usd"]
    return "-" if budget is None else f"${budget:g}/{team['budget_period']}"


_ACTIONS: dict[str, Any] = {
    "create": _create,
    "list": _list,
    "show": _show,
    "update": _update,
    "delete": _delete,
}
