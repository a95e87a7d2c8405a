"""What minting one image URL costs, per URL mode and backend (no I/O: pure CPU).

.venv/bin/python -m bench.mint_urls
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from app.config.storage import StorageConfig
from app.domain import StoredRef
from app.storage import gateway_links
from app.storage.local import LocalStorage
from app.storage.s3 import S3Storage

COUNT = 5_000
BATCHES = 10
BASE = "https://gateway.example"
KEY = "bench-signing-key-0123456789"


def per_call(mint: Callable[[], object]) -> float:
    """The best of several batches: on a shared machine the others' load only adds time."""
    for _ in range(1000):
        mint()
    best = float("inf")
    for _ in range(BATCHES):
        started = time.perf_counter_ns()
        for _ in range(COUNT):
            mint()
        best = min(best, (time.perf_counter_ns() - started) / COUNT)
    return best


def main() -> None:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench-access-key")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench-secret-key")
    ref = StoredRef("AbCdEfGhIjKlMnOpQrStUv", "png", 3_000_000)
    local = StorageConfig(url_mode="signed", signing_keys=(KEY,))
    s3 = StorageConfig(
        backend="s3", bucket="bench", endpoint_url="http://127.0.0.1:9", url_mode="signed",
        signing_keys=(KEY,),
    )  # fmt: skip
    on_disk = LocalStorage(local.directory, gateway_links(local))
    bucket = S3Storage(s3, gateway_links(s3))
    rows = {
        "local public": lambda: on_disk.url(ref, BASE, mode="public"),
        "local signed (HMAC gateway URL)": lambda: on_disk.url(ref, BASE),
        "s3 signed <= 7 d (presigned GET)": lambda: bucket.url(ref, BASE),
        "s3 signed > 7 d (HMAC gateway URL)": lambda: bucket.url(ref, BASE, ttl=30 * 86400),
        "s3 public (bucket URL)": lambda: bucket.url(ref, BASE, mode="public"),
    }
    for name, mint in rows.items():
        print(f"{name:38s} {per_call(mint):8.0f} ns/URL")


if __name__ == "__main__":
    main()
