"""A real ``imagegate serve`` with the shipped ``config/gateway.yaml`` as a newcomer runs it: no
carrier keys (so every model is served offline by ``local``), data kept under a temporary
directory instead of ``./data``."""

from __future__ import annotations

from pathlib import Path

from tests.support.config import ROOT
from tests.support.gateway import RunningGateway, start_gateway

SHIPPED_CONFIG = ROOT / "config" / "gateway.yaml"

# Every variable the shipped config reads, set as on a machine that has none of them.
NEWCOMER_ENV = {
    "OPENAI_API_KEY": "",
    "OPENAI_BASE_URL": "",
    "RESELLER_API_KEY": "",
    "RESELLER_BASE_URL": "",
    "IMAGEGATE_API_KEY": "",
    "IMAGEGATE_PUBLIC_URL": "",
    "IMAGEGATE_LOG_LEVEL": "info",
}


def start_shipped_gateway(directory: Path, *extra: str) -> RunningGateway:
    """The shipped config on a free loopback port; images and jobs go under ``directory``."""
    env = {
        **NEWCOMER_ENV,
        "IMAGEGATE_DATA_DIR": str(directory / "data" / "images"),
        # The shipped config keeps its database under ./data: the test's own directory instead.
        "IMAGEGATE_DATABASE_URL": f"sqlite:///{directory / 'data' / 'imagegate.sqlite3'}",
    }
    return start_gateway(SHIPPED_CONFIG, directory / "gateway.log", *extra, env=env)
