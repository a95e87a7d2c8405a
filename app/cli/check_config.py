"""``imagegate check-config``: validate a config and show what it resolves to, secrets masked."""

from __future__ import annotations

import argparse
from pathlib import Path

from app.cli.common import configured_or_exit
from app.config import GatewayConfig

HELP = "validate a config and show its carriers and routes (secrets masked)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path",
        nargs="?",
        type=Path,
        default=None,
        help="config file (default: $IMAGEGATE_CONFIG, else config/gateway.yaml)",
    )


def run(args: argparse.Namespace) -> int:
    configured = configured_or_exit(args.path)
    if configured is None:
        return 2
    config = configured.config
    print(describe(config))
    return 0


def describe(config: GatewayConfig) -> str:
    """The resolved config as a table, secrets masked."""
    lines = [f"{config.source}: OK", ""]
    keys = len(config.auth.keys)
    lines.append(f"auth:     {f'{keys} gateway key(s)' if keys else 'open (no gateway keys)'}")
    base = config.storage.public_base_url or "taken from each request"
    lines += [f"storage:  {config.storage.directory} (public URL: {base})", "", "carriers:"]
    enabled = set()
    for c in config.carriers:
        if c.disabled_reason is None:
            enabled.add(c.name)
        lines.append(f"  {c.name:<14} {c.kind:<8} {c.endpoint or '-':<34} key: {c.key_status}")
    lines += ["", "models:"]
    for m in config.models:
        aliases = f" (aliases: {', '.join(m.aliases)})" if m.aliases else ""
        lines.append(f"  {m.name}  rules={m.rules}{aliases}")
        for i, r in enumerate(m.carriers, 1):
            state = "" if r.carrier in enabled else "  [disabled]"
            tier = r.tier if r.tier is not None else i
            extra = f" overrides={sorted(r.overrides)}" if r.overrides else ""
            target = f"{r.carrier} -> {r.model or m.name}"
            lines.append(f"    tier {tier} weight {r.weight:g}: {target}{extra}{state}")
    return "\n".join(lines)
