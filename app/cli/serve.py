"""``imagegate serve``: run the gateway with uvicorn (one process, or ``--workers N``)."""

from __future__ import annotations

import argparse
import errno
import ipaddress
import logging
import socket
import sys

import uvicorn
from sqlalchemy.exc import SQLAlchemyError

from app.cli.common import (
    add_config_option,
    configured_or_exit,
    log_level,
    port,
    positive_int,
)
from app.cli.limits import raise_open_files_limit
from app.cli.preflight import first_problem, has_client_keys, what_is_shared
from app.config import GatewayConfig
from app.config.settings import database_url, export_for_workers, with_redis_url
from app.observability import multiproc, side_port
from app.observability.json_logs import formatter
from app.observability.logs import configure_logging

log = logging.getLogger(__name__)
HELP = "serve the gateway"
# uvicorn's httptools protocol with header and send deadlines and a connection cap.
PROTOCOL = "app.api.connections:GatewayProtocol"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_option(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=port, default=8080, help="TCP port (1 to 65535)")
    parser.add_argument(
        "--workers", type=positive_int, default=1, help="worker processes (one per core)"
    )
    parser.add_argument(
        "--allow-open",
        action="store_true",
        help="serve without gateway keys on a non-loopback address (default: off; "
        "$IMAGEGATE_ALLOW_OPEN=1 does the same)",
    )
    parser.add_argument(
        "--log-level",
        type=log_level,
        default=None,
        help="critical, error, warning, info or debug (default: $IMAGEGATE_LOG_LEVEL, else info)",
    )


def run(args: argparse.Namespace) -> int:
    configured = configured_or_exit(args.config)
    if configured is None:
        return 2
    settings, config, path = configured
    config = with_redis_url(settings, config)
    allow_open = args.allow_open or settings.allow_open
    database = database_url(settings, config)
    problem = first_problem(config, database)
    if problem is None and not _is_loopback(args.host) and not allow_open:
        problem = _open_problem(config, database, args.host)
    problem = problem or _port_problem(args.host, args.port)
    if problem is not None:
        print(f"imagegate: {problem}", file=sys.stderr)
        return 2
    level = args.log_level or settings.log_level
    configure_logging(level, formatter(settings.log_format or config.logging.format))
    raise_open_files_limit(config.server.max_connections)
    log.info("shared state: %s", what_is_shared(config, database, args.workers))
    export_for_workers(path, level)  # each worker process configures itself from these
    side = config.metrics.port if config.metrics.enabled else None
    metrics_dir = multiproc.prepare(args.workers)  # before the workers start
    try:
        if side is not None and not _side_port(config, side, args.host, args.port):
            return 2
        _serve(args, config)
    finally:
        multiproc.cleanup(metrics_dir)
    return 0


def _open_problem(config: GatewayConfig, database: str, host: str) -> str | None:
    """Why serving on a non-loopback ``host`` is refused: no client key in the key store
    (config keys or database keys), or a database that cannot say."""
    try:
        if has_client_keys(config, database):
            return None
    except (SQLAlchemyError, OSError) as exc:
        return f"cannot check the database for client keys ({type(exc).__name__}: {exc})"
    return (
        f"refusing to serve on {host} with no gateway keys: anyone who can reach it could "
        "spend your carrier credit. Create a key (imagegate keys create --name NAME) or set "
        "auth.keys in the config, or pass --allow-open (IMAGEGATE_ALLOW_OPEN=1) if that is "
        "really what you want."
    )


def _side_port(config: GatewayConfig, port: int, main_host: str, main_port: int) -> bool:
    host, token = config.metrics.host, config.metrics.token
    try:
        side_port.serve(
            host,
            port,
            side_port.main_url(main_host, main_port),
            token.get_secret_value() if token is not None else None,
        )
    except OSError as exc:
        print(f"imagegate: cannot serve metrics on {host}:{port} ({exc})", file=sys.stderr)
        return False
    return True


def _serve(args: argparse.Namespace, config: GatewayConfig) -> None:
    uvicorn.run(
        "app.main:app_from_environment",
        factory=True,
        http=PROTOCOL,
        host=args.host,
        port=args.port,
        workers=args.workers,
        proxy_headers=False,  # X-Forwarded-* are judged by the app against trusted_proxies
        server_header=False,
        access_log=False,
        log_config=None,
        # Past request_grace the app answers waiting requests itself (503 shutting_down).
        timeout_graceful_shutdown=int(config.server.request_grace) + 5,
        backlog=4096,
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _port_problem(host: str, number: int) -> str | None:
    """A one-line hint when the address cannot be bound (in use, not ours), else None."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    probe = socket.socket(family, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host.strip("[]"), number))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return (
                f"port {number} on {host} is already in use: stop the other server or choose "
                f"another port (--port N, or make run PORT=N)"
            )
        return f"cannot listen on {host}:{number} ({exc.strerror or exc})"
    finally:
        probe.close()
    return None
