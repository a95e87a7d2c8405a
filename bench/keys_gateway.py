"""The gateway of the ``keys`` scenarios: the app ``imagegate serve`` runs, on an SQLite
database holding ``--keys`` client keys, each with a monthly budget and rate limits (set high
enough never to refuse: the bench measures their cost, not their refusals).

It seeds the keys first, then builds the same app as ``imagegate serve`` with
``create_app(config, database=engine)`` on that database and serves it with the same uvicorn
options. It writes the keys' secrets, one a line, to ``--secrets``.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
from datetime import UTC, datetime
from pathlib import Path

import uvicorn
from sqlalchemy import insert

from app.access.db_keys import secret_hash
from app.carriers import CARRIER_OPTIONS
from app.cli.limits import raise_open_files_limit
from app.cli.serve import PROTOCOL
from app.config import load_config
from app.config.settings import environment
from app.db.engine import create_engine
from app.db.migrate import upgrade
from app.db.models import ApiKey
from app.main import create_app
from app.observability.logs import configure_logging

BUDGET_NANOS = 10**6 * 10**9  # a million USD a month: never the limit here
RATE = 1_000_000


async def seed(url: str, count: int) -> list[str]:
    await upgrade(url)
    engine = create_engine(url)
    now = datetime.now(UTC)
    keys = ["ig-" + secrets.token_urlsafe(24) for _ in range(count)]
    rows = [
        {
            "id": f"key_bench{index:04d}",
            "name": f"bench-{index}",
            "key_hash": secret_hash(key),
            "prefix": key[:8],
            "created_at": now,
            "updated_at": now,
            "budget_nanos": BUDGET_NANOS,
            "budget_period": "month",
            "images_per_minute": RATE,
            "requests_per_minute": RATE,
            "max_concurrent": 1000,
        }
        for index, key in enumerate(keys)
    ]
    async with engine.begin() as connection:
        await connection.execute(insert(ApiKey), rows)
    await engine.dispose()
    return keys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--keys", type=int, default=100)
    parser.add_argument("--database", type=Path, required=True)
    parser.add_argument("--secrets", type=Path, required=True)
    args = parser.parse_args()
    url = f"sqlite:///{args.database}"
    keys = asyncio.run(seed(url, args.keys))
    args.secrets.write_text("\n".join(keys) + "\n")
    configure_logging("info")
    config = load_config(args.config, environment(), CARRIER_OPTIONS)
    app = create_app(config, database=create_engine(url))
    raise_open_files_limit(config.server.max_connections)
    uvicorn.run(
        app,
        http=PROTOCOL,
        host="127.0.0.1",
        port=args.port,
        proxy_headers=False,
        server_header=False,
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=30,
        backlog=4096,
    )


if __name__ == "__main__":
    main()
