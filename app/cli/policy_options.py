"""The policy options ``imagegate keys`` and ``imagegate teams`` share, and their output.

Each option sets the field of the same name (``--max-n`` sets ``max_n``; ``--budget`` sets
``budget_usd``, ``--period`` ``budget_period``). An option left out is left alone by
``update``; ``none`` clears a limit (``--max-n none``).
"""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

# option -> field
OPTIONS = {
    "models": "models",
    "max_n": "max_n",
    "max_pixels": "max_pixels",
    "qualities": "qualities",
    "max_edit_images": "max_edit_images",
    "images_per_minute": "images_per_minute",
    "requests_per_minute": "requests_per_minute",
    "max_concurrent": "max_concurrent",
    "budget": "budget_usd",
    "period": "budget_period",
    "retention": "retention",
    "url_mode": "url_mode",
}
OPTION_OF = {field: option for option, field in OPTIONS.items()} | {"expires_at": "expires"}
LISTS = ("models", "qualities")
_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def add_policy_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("policy (none clears a limit)")
    group.add_argument("--models", help="allowed models, comma-separated (aliases resolve)")
    group.add_argument("--max-n", help="most images per request")
    group.add_argument("--max-pixels", help="most pixels per image (1024x1024 = 1048576)")
    group.add_argument("--qualities", help="allowed qualities, comma-separated")
    group.add_argument("--max-edit-images", help="most input images per edit")
    group.add_argument("--images-per-minute", help="images per minute")
    group.add_argument("--requests-per-minute", help="requests per minute")
    group.add_argument("--max-concurrent", help="requests at once")
    group.add_argument("--budget", help="budget in USD per period (e.g. 50 or 12.5)")
    group.add_argument(
        "--period",
        choices=("day", "week", "month", "total"),
        help="budget period, UTC calendar (default for a new budget: month)",
    )
    group.add_argument(
        "--retention", help="how long stored images are kept: 90s, 12h, 30d; 0 keeps forever"
    )
    group.add_argument(
        "--url-mode",
        choices=("public", "signed", "proxy", "none"),
        help="how image URLs are minted (default: the deployment's storage.url_mode)",
    )
    group.add_argument(
        "--metadata",
        action="append",
        metavar="KEY=VALUE",
        help="free-form metadata (repeat the option)",
    )


def policy_values(args: argparse.Namespace) -> dict[str, Any]:
    """The fields the options set: ``None`` for ``none``, lists split on commas."""
    values: dict[str, Any] = {}
    for option, field in OPTIONS.items():
        given = getattr(args, option, None)
        if given is None:
            continue
        if given.strip().lower() == "none":
            values[field] = None
        elif option in LISTS:
            values[field] = [part.strip() for part in given.split(",") if part.strip()]
        else:
            values[field] = given.strip()
    if getattr(args, "metadata", None):
        pairs = [item.partition("=") for item in args.metadata]
        values["metadata"] = {key.strip(): value for key, _, value in pairs if key.strip()}
    return values


def expiry(text: str) -> datetime | None | str:
    """``--expires``: a duration from now (``90d``, ``12h``), ``none``, or a date or time
    (left for the field's own parsing)."""
    stripped = text.strip().lower()
    if stripped == "none":
        return None
    found = _DURATION.match(stripped)
    if found:
        return datetime.now(UTC) + timedelta(seconds=int(found[1]) * _SECONDS[found[2]])
    return text.strip()


def duration(text: str) -> int:
    """Seconds from ``90``, ``90s``, ``15m``, ``12h``, ``7d`` or ``2w`` (argparse type)."""
    stripped = text.strip().lower()
    if stripped.isdigit():
        return int(stripped)
    found = _DURATION.match(stripped)
    if not found:
        raise argparse.ArgumentTypeError(f"'{text}' is not a duration (90s, 15m, 12h, 7d)")
    return int(found[1]) * _SECONDS[found[2]]


def show(item: dict[str, Any]) -> None:
    print(orjson.dumps(item, option=orjson.OPT_INDENT_2).decode())


def table(rows: list[list[str]], header: list[str]) -> None:
    """Columns padded to their widest cell, as ``ls -l`` would."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    for row in (header, *rows):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)))


def when(seconds: int | None) -> str:
    """A Unix time for a table cell: ``2026-11-25 14:00`` (UTC), or ``-``."""
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M")
