"""``imagegate serve``, ``imagegate check-config`` and ``imagegate db upgrade|current``."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import sys
from pathlib import Path

import uvicorn
from sqlalchemy.exc import SQLAlchemyError

from app.carriers import REQUIRED_FIELDS
from app.config import ConfigError, GatewayConfig, load_config
from app.config.settings import Settings, database_url, environment, export_config_path
from app.db.migrate import current, head, upgrade
from app.db.urls import DatabaseURLError, mask, masked
from app.observability.logs import configure_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="imagegate", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the gateway")
    serve.add_argument("--config", type=Path, help="config file (default: $IMAGEGATE_CONFIG "
                       "or config/gateway.yaml)")  # fmt: skip
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--allow-open", action="store_true",
                       help="serve without gateway keys on a non-loopback address")  # fmt: skip
    serve.add_argument("--log-level", default=None)
    check = commands.add_parser("check-config", help="validate a config and show its routes")
    check.add_argument("path", nargs="?", type=Path)
    db = commands.add_parser("db", help="the database: migrate it, or show its revision")
    db.add_argument("action", choices=("upgrade", "current"))
    db.add_argument("--config", type=Path, help="config holding database.url (default: "
                    "$IMAGEGATE_CONFIG); $IMAGEGATE_DATABASE_URL overrides it")  # fmt: skip
    args = parser.parse_args(argv)
    settings = Settings()
    if args.command == "db" and settings.database_url and not args.config:
        return _db(args.action, settings.database_url.get_secret_value())
    path: Path = (args.path if args.command == "check-config" else args.config) or settings.config
    try:
        config = load_config(path, environment(), REQUIRED_FIELDS)
    except ConfigError as exc:
        print(f"imagegate: invalid config: {exc}", file=sys.stderr)
        return 2
    if args.command == "check-config":
        print(describe(config))
        return 0
    if args.command == "db":
        return _db(args.action, database_url(settings, config))
    return _serve(args, settings, config, path)


def _db(action: str, url: str) -> int:
    """``db upgrade`` migrates to the newest schema; ``db current`` shows the revision and
    exits 1 unless the database is at the newest one."""
    try:
        revision = asyncio.run(upgrade(url) if action == "upgrade" else current(url))
    except (DatabaseURLError, OSError, SQLAlchemyError) as exc:
        print(f"imagegate: database {masked(url)}: {mask(str(exc))}", file=sys.stderr)
        return 1
    latest = head()
    print(f"{masked(url)}: revision {revision or 'none'} (newest: {latest})")
    return 0 if revision == latest else 1


def _serve(args: argparse.Namespace, settings: Settings, config: GatewayConfig, path: Path) -> int:
    allow_open = args.allow_open or settings.allow_open
    if not config.auth.keys and not _is_loopback(args.host) and not allow_open:
        print(
            f"imagegate: refusing to serve on {args.host} with no gateway keys: anyone who can "
            "reach it could spend your carrier credit. Set auth.keys in the config, or pass "
            "--allow-open (IMAGEGATE_ALLOW_OPEN=1) if that is really what you want.",
            file=sys.stderr,
        )
        return 2
    configure_logging(args.log_level or settings.log_level)
    export_config_path(path)
    uvicorn.run(
        "app.main:app_from_environment",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        proxy_headers=False,  # X-Forwarded-* are judged by the app against trusted_proxies
        server_header=False,
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=30,
        backlog=4096,
    )
    return 0


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def describe(config: GatewayConfig) -> str:
    """The resolved config as a table, secrets masked."""
    lines = [f"{config.source}: OK", ""]
    keys = len(config.auth.keys)
    lines.append(f"auth:     {f'{keys} gateway key(s)' if keys else 'open (no gateway keys)'}")
    base = config.storage.public_base_url or "taken from each request"
    lines += [f"storage:  {config.storage.directory} (public URL: {base})", "", "carriers:"]
    enabled = set()
    for c in config.carriers:
        if c.api_key is None:
            key = "none needed"
        elif c.has_key:
            key = "set (****)"
        else:
            key = "MISSING -> disabled"
        if c.api_key is None or c.has_key:
            enabled.add(c.name)
        lines.append(f"  {c.name:<14} {c.kind:<8} {c.base_url or '-':<34} key: {key}")
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


if __name__ == "__main__":
    raise SystemExit(main())
