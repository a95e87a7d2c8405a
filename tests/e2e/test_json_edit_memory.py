"""Sixteen concurrent 44 MB JSON edits (one inline data URI each) through a real server: the
data URIs are decoded into the spool as the bodies stream in, never held whole."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable

import httpx
import orjson

from tests.support.gateway import RunningGateway
from tests.support.memory import MB, padded_png, peak_rss_mb


async def test_sixteen_concurrent_44_mb_json_edits_stay_under_600_mb(
    gateway_factory: Callable[..., RunningGateway],
) -> None:
    def offline(data: dict) -> None:
        for model in data["models"]:
            model["carriers"] = [{"carrier": "local"}]

    gateway = gateway_factory(offline)
    png = padded_png(33 * MB)
    uri = "data:image/png;base64," + base64.b64encode(png).decode()
    body = orjson.dumps({"model": "offline", "prompt": "heavy", "size": "1024x1024", "image": uri})
    assert 44 * MB < len(body) < 45 * MB
    del uri
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(base_url=gateway.url, timeout=120) as client:
        started = time.monotonic()
        answers = await asyncio.gather(
            *(client.post("/v1/images/edits", content=body, headers=headers) for _ in range(16))
        )
        elapsed = time.monotonic() - started
    assert [a.status_code for a in answers] == [200] * 16, answers[0].text
    peak = peak_rss_mb(gateway.process.pid)
    print(f"\n16 x 44 MB JSON edits: peak {peak:.0f} MB, {elapsed:.1f} s")
    assert peak < 600, f"peak RSS {peak:.0f} MB"
