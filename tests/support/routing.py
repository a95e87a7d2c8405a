"""Two openai carriers ``a`` and ``b`` in front of one model, for routing and fallback tests."""

from __future__ import annotations

import base64
from typing import Any

import httpx

from tests.support.images import png_bytes

A = "http://a.test/v1/images/generations"
B = "http://b.test/v1/images/generations"
PNG = png_bytes((16, 16))
OK = httpx.Response(
    200, json={"created": 1, "data": [{"b64_json": base64.b64encode(PNG).decode()}]}
)


def two_carriers(retries: int = 0, failures: int = 2, **route_b: Any):
    def edit(data: dict) -> None:
        data["carriers"] = [
            {
                "name": "a",
                "kind": "openai",
                "base_url": "http://a.test/v1",
                "api_key": "sk-a",
                "retries": retries,
                "timeout": 2,
            },
            {
                "name": "b",
                "kind": "openai",
                "base_url": "http://b.test/v1",
                "api_key": "sk-b",
                "retries": retries,
                "timeout": 2,
            },
        ]
        data["routing"]["cooldown"] = {"failures": failures, "window": 60, "duration": 60}
        data["models"] = [
            {
                "name": "gpt-image-2",
                "rules": "gpt-image-2",
                "carriers": [{"carrier": "a"}, {"carrier": "b", **route_b}],
            },
            {
                "name": "deadline",
                "rules": "gpt-image-2",
                "timeout": 0.3,
                "carriers": [{"carrier": "a"}],
            },
        ]

    return edit
