"""Decompression bombs through a real server: sixteen 190 KB PNGs that each declare a canvas
near the pixel cap (200 MB decoded) are decoded under the process-wide budget, one at a time,
and the memory goes back to the OS afterwards."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx

from tests.support.gateway import RunningGateway, wait_until
from tests.support.memory import bomb_png, peak_rss_mb, rss_mb

SIDE = 7071  # 49,999,041 pixels: just under the default cap of 50,000,000


async def test_sixteen_concurrent_bomb_edits_stay_under_300_mb(
    gateway_factory: Callable[..., RunningGateway],
) -> None:
    def offline(data: dict) -> None:
        for model in data["models"]:
            model["carriers"] = [{"carrier": "local"}]

    gateway = gateway_factory(offline)
    bomb = bomb_png(SIDE, SIDE)
    assert len(bomb) < 250_000
    pid = gateway.process.pid
    async with httpx.AsyncClient(base_url=gateway.url, timeout=300) as client:  # memory, not speed
        warm = await edit(client, bomb, "1024x1024")  # a first request loads what requests use
        assert warm.status_code == 200, warm.text
        await asyncio.sleep(0.3)
        idle = rss_mb(pid)
        started = time.monotonic()
        answers = await asyncio.gather(*(edit(client, bomb, "1024x1024") for _ in range(16)))
        elapsed = time.monotonic() - started
    assert [a.status_code for a in answers] == [200] * 16, answers[0].text
    peak = peak_rss_mb(pid)
    print(f"\nbomb edits: idle {idle:.0f} MB, peak {peak:.0f} MB, {elapsed:.1f} s")
    assert peak < 300, f"peak RSS {peak:.0f} MB"
    wait_until(lambda: rss_mb(pid) < idle + 30, timeout=15, what="RSS back near idle")


async def edit(client: httpx.AsyncClient, png: bytes, size: str) -> httpx.Response:
    return await client.post(
        "/v1/images/edits",
        data={"model": "offline", "prompt": "a bomb", "size": size},
        files={"image": ("bomb.png", png, "image/png")},
    )
