"""``imagegate check-carriers``: probe each enabled carrier's key cheaply, one line per carrier.

Each kind knows its own cheap check (``probe`` in ``app.carriers.KINDS``: ``openai`` lists the
upstream's models with the key; ``local`` has nothing to check). The exit code is 1 when an
enabled real carrier fails its check, so scripts and health checks can act on it.
"""

from __future__ import annotations

import argparse
import asyncio

import httpx

from app.carriers import is_offline, probe_carrier
from app.carriers.http import UpstreamClient, default_transport
from app.cli.common import add_config_option, configured_or_exit
from app.config import GatewayConfig
from app.config.schema import CarrierConfig

HELP = "check each enabled carrier's key cheaply (e.g. its model list), one line per carrier"
_LABELS = {"ok": "ok", "key_rejected": "KEY REJECTED", "failed": "FAILED"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_option(parser)
    parser.add_argument("--timeout", type=_seconds, default=10.0, help="seconds per carrier")


def run(args: argparse.Namespace) -> int:
    configured = configured_or_exit(args.config)
    if configured is None:
        return 2
    config = configured.config
    lines = asyncio.run(check_all(config, args.timeout))
    for line, _ in lines:
        print(line)
    return 1 if any(failed for _, failed in lines) else 0


async def check_all(config: GatewayConfig, seconds: float) -> list[tuple[str, bool]]:
    """One line per carrier, and whether it counts as a failure (an enabled real carrier)."""
    limits = httpx.Limits(max_connections=len(config.carriers))
    async with UpstreamClient(transport=default_transport(limits), limits=limits) as http:
        return list(await asyncio.gather(*(_check(c, http, seconds) for c in config.carriers)))


async def _check(
    carrier: CarrierConfig, http: httpx.AsyncClient, seconds: float
) -> tuple[str, bool]:
    if carrier.disabled_reason is not None:
        return f"{carrier.name:<14} disabled      {carrier.disabled_reason}", False
    result = await probe_carrier(carrier, http, seconds)
    offline = " (offline renderer)" if is_offline(carrier) else ""
    line = f"{carrier.name:<14} {_LABELS[result.state]:<13} {result.detail}{offline}"
    return line, result.state != "ok" and not offline


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds") from None
    if not 0 < value <= 300:
        raise argparse.ArgumentTypeError(f"{value:g} is not between 0 and 300 seconds")
    return value
