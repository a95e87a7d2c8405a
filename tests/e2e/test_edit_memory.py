"""A 16 x 20 MB edit through a real server: uploads are spooled, never held whole in memory."""

from __future__ import annotations

import struct
import time
import zlib
from pathlib import Path

import httpx

from tests.support.gateway import RunningGateway
from tests.support.images import png_bytes

MB = 1024 * 1024


def padded_png(size: int) -> bytes:
    """A valid, small PNG padded to ``size`` bytes with a private ancillary chunk."""
    image = png_bytes((64, 64))
    body = b"\0" * (size - len(image) - 12)
    chunk = (
        struct.pack(">I", len(body))
        + b"prVt"
        + body
        + struct.pack(">I", zlib.crc32(b"prVt" + body))
    )
    iend = image.rindex(b"IEND") - 4
    return image[:iend] + chunk + image[iend:]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_a_16_x_20_mb_edit_keeps_memory_bounded(
    offline_gateway: RunningGateway, tmp_path: Path
) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(padded_png(20 * MB))
    baseline = peak_rss_mb(offline_gateway.process.pid)
    handles = [path.open("rb") for _ in range(16)]
    try:
        started = time.monotonic()
        response = httpx.post(
            f"{offline_gateway.url}/v1/images/edits",
            data={"model": "offline", "prompt": "sixteen heavy inputs", "size": "1024x1024"},
            files=[
                ("image[]", (f"in{i}.png", handle, "image/png")) for i, handle in enumerate(handles)
            ],
            timeout=120,
        )
        elapsed = time.monotonic() - started
    finally:
        for handle in handles:
            handle.close()
    assert response.status_code == 200, response.text
    grown = peak_rss_mb(offline_gateway.process.pid) - baseline
    # 320 MB went through; a copy of it in memory would show. Allow for decoding and buffers.
    assert grown < 120, f"peak RSS grew by {grown:.0f} MB"
    assert elapsed < 60
