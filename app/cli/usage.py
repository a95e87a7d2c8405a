"""``imagegate usage``: the ledger's totals per key, team, model, carrier or day, read
straight from the database (no running gateway needed)."""

from __future__ import annotations

import argparse
from typing import Any

from app.access.registry import Registry
from app.cli.common import add_config_option
from app.cli.policy_options import show, table
from app.cli.store import run_with_store
from app.usage.reports import GROUPS, Reports, usage_filter

HELP = "usage and spend from the ledger, grouped by key, team, model, carrier or day"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--group-by", choices=GROUPS, default="key", help="one line per ...")
    parser.add_argument("--since", help="a UTC date (2026-11-01), an ISO time or Unix seconds")
    parser.add_argument("--until", help="as --since; a date is included whole")
    parser.add_argument("--key", help="only this key (id or name)")
    parser.add_argument("--team", help="only this team (id or name)")
    parser.add_argument("--model", help="only this model")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    add_config_option(parser)


def run(args: argparse.Namespace) -> int:
    async def report(_registry: Registry, reports: Reports) -> int:
        where = usage_filter(args.since, args.until, args.key, args.team, args.model)
        data = await reports.summary(args.group_by, where)
        if args.json:
            show({"object": "list", "group_by": args.group_by, "data": data})
            return 0
        rows = [
            [
                _label(item[args.group_by]),
                str(item["requests"]),
                str(item["images"]),
                f"{item['pixels']:,}",
                f"${item['cost']:.6f}",
                str(item["errors"]),
            ]
            for item in data
        ]
        table(rows, [args.group_by.upper(), "REQUESTS", "IMAGES", "PIXELS", "COST", "ERRORS"])
        return 0

    return run_with_store(args, report)


def _label(group: Any) -> str:
    if group is None:
        return "-"
    if isinstance(group, dict):
        name, group_id = group["name"], group["id"]
        return str(name) if name == group_id else f"{name} ({group_id})"
    return str(group)
