"""``imagegate keys``, ``teams`` and ``usage`` on SQLite and PostgreSQL, straight against the
database named by ``IMAGEGATE_DATABASE_URL`` (no gateway running), including the README's
commands as written."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.cli import main
from app.db.engine import create_engine
from app.db.models import ApiKey, UsageRecord
from app.domain import UsageRecord as Record
from app.usage.ledger import usage_row
from tests.support.config import ROOT, base_config, write_config


def in_database(url: str, work: Callable[[AsyncEngine], Awaitable[Any]]) -> Any:
    """Run ``work`` on an engine of its own: the CLI under test runs its own event loop."""

    async def main() -> Any:
        engine = create_engine(url)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(main())


@pytest.fixture
def cli(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    """``imagegate ARGS...`` in process, with the test config and the database from the
    environment; returns (exit code, stdout, stderr)."""
    config = write_config(tmp_path, base_config(tmp_path))
    monkeypatch.setenv("IMAGEGATE_CONFIG", str(config))
    monkeypatch.setenv("IMAGEGATE_DATABASE_URL", database_url)

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_the_readme_key_commands(cli, database_url: str) -> None:
    code, out, err = cli(
        "keys",
        "create",
        "--name",
        "alice",
        "--team",
        "design",
        "--models",
        "gpt-image-2,gi2",
        "--budget",
        "50",
        "--period",
        "month",
        "--images-per-minute",
        "20",
        "--max-n",
        "4",
    )
    assert code == 0, err
    secret = out.strip()
    assert re.fullmatch(r"ig-[A-Za-z0-9_-]{32}", secret) and "shown only once" in err

    async def read(engine: AsyncEngine) -> Any:
        async with engine.connect() as connection:
            return (await connection.execute(select(ApiKey))).one()

    row = in_database(database_url, read)
    assert row.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert (
        row.name,
        row.models,
        row.budget_nanos,
        row.budget_period,
        row.images_per_minute,
        row.max_n,
    ) == ("alice", ["gpt-image-2"], 50 * 10**9, "month", 20, 4)
    code, out, _ = cli("keys", "list")
    assert (
        code == 0
        and "alice" in out
        and "design" in out
        and secret[:10] in out
        and secret not in out
    )
    assert "$50/month" in out


def test_show_update_rotate_revoke(cli) -> None:
    cli("keys", "create", "--name", "bob", "--max-n", "2")
    code, out, _ = cli("keys", "show", "bob")
    shown = orjson.loads(out)
    assert code == 0 and shown["max_n"] == 2 and "key" not in shown
    code, out, _ = cli(
        "keys", "update", "bob", "--max-n", "none", "--requests-per-minute", "9", "--expires", "30d"
    )
    updated = orjson.loads(out)
    assert code == 0 and updated["max_n"] is None and updated["requests_per_minute"] == 9
    assert updated["expires_at"] is not None
    code, out, err = cli("keys", "rotate", "bob", "--grace", "1h")
    assert code == 0 and out.strip().startswith("ig-") and "old secret works until" in err
    code, out, _ = cli("keys", "revoke", shown["id"])
    assert code == 0 and "revoked key bob" in out
    code, out, _ = cli("keys", "list")
    assert "bob" not in out
    code, out, _ = cli("keys", "list", "--all")
    assert "revoked" in out


def test_refusals_are_one_line(cli) -> None:
    code, _, err = cli("keys", "create", "--name", "x", "--max-n", "0")
    assert code == 2 and err.startswith("imagegate: --max-n:") and err.count("\n") == 1
    code, _, err = cli("keys", "create", "--name", "x", "--models", "nope")
    assert code == 1 and "Unknown model 'nope'" in err
    code, _, err = cli("keys", "show", "nobody")
    assert code == 1 and "No key 'nobody'" in err


def test_teams(cli) -> None:
    code, out, _ = cli("teams", "create", "design", "--budget", "100", "--max-concurrent", "5")
    assert code == 0 and orjson.loads(out)["budget_nanos"] == 100 * 10**9
    cli("keys", "create", "--name", "alice", "--team", "design")
    code, out, _ = cli("teams", "list")
    assert re.search(r"design\s+active\s+1\s+\$100/month", out)
    code, out, _ = cli("teams", "update", "design", "--max-concurrent", "none")
    assert orjson.loads(out)["max_concurrent"] is None
    code, _, err = cli("teams", "delete", "design")
    assert code == 1 and "still has 1 active key" in err


def test_usage_from_the_readme(cli, database_url: str) -> None:
    code, out, _ = cli("keys", "create", "--name", "alice")
    key_id = orjson.loads(cli("keys", "show", "alice")[1])["id"]
    from datetime import UTC, datetime

    when = datetime(2026, 11, 3, tzinfo=UTC).timestamp()
    rows = [
        usage_row(
            Record(
                "r",
                key_id,
                "alice",
                "gpt-image-2",
                "generate",
                "succeeded",
                images=2,
                pixels=2_097_152,
                cost_nanos=80_000_000,
                created_at=when,
            )
        )
        for _ in range(2)
    ]

    async def write(engine: AsyncEngine) -> None:
        async with engine.begin() as connection:
            await connection.execute(insert(UsageRecord), rows)

    in_database(database_url, write)
    code, out, err = cli("usage", "--group-by", "key", "--since", "2026-11-01")
    assert code == 0, err
    header, line = out.strip().splitlines()
    assert header.split() == ["KEY", "REQUESTS", "IMAGES", "PIXELS", "COST", "ERRORS"]
    assert line.split() == ["alice", f"({key_id})", "2", "4", "4,194,304", "$0.160000", "0"]
    code, out, _ = cli("usage", "--group-by", "day", "--since", "2026-12-01", "--json")
    assert orjson.loads(out)["data"] == []


def test_the_cli_works_from_any_directory_with_only_the_environment(
    database_url: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEGATE_")}
    env |= {
        "IMAGEGATE_DATABASE_URL": database_url,
        "PYTHONPATH": str(ROOT),
        "IMAGEGATE_CONFIG": str(ROOT / "config" / "gateway.yaml"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "app", "keys", "create", "--name", "ci"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ig-") and result.stdout.count("\n") == 1
