"""The ``storage`` section's validation: durations, signing keys, and the s3 backend's needs."""

from __future__ import annotations

from typing import Any

import pytest

from app.config import ConfigError
from app.config.storage import StorageConfig
from app.storage import make_storage


def test_durations_read_as_the_section_says() -> None:
    config = StorageConfig(url_ttl="30d", retention="12h", sweep_interval="90s")
    assert (config.url_ttl, config.retention, config.sweep_interval) == (2592000, 43200, 90)
    assert StorageConfig(retention=0, sweep_interval=60).retention == 0
    for bad in ("3 days", "-5", "1y", True, -1):
        with pytest.raises(ValueError):
            StorageConfig(retention=bad)


def test_signing_keys_must_be_long_and_unset_ones_are_dropped() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        StorageConfig(signing_keys=["short"])
    keys: Any = ["a-signing-key-of-enough-length", "", "  "]
    assert len(StorageConfig(signing_keys=keys).signing_keys) == 1


def test_the_s3_backend_needs_a_bucket_and_an_http_endpoint() -> None:
    with pytest.raises(ConfigError, match="storage.bucket"):
        make_storage(StorageConfig(backend="s3"))
    with pytest.raises(ValueError, match="http"):
        StorageConfig(backend="s3", bucket="b", endpoint_url="ftp://x")
    assert StorageConfig(endpoint_url="", prefix="/images").prefix == "images/"
