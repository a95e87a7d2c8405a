from __future__ import annotations

import pytest

from app.config import Price
from app.core.pricing import cost

TOKENS = Price(input_text_per_mtok=5, input_image_per_mtok=8, output_image_per_mtok=30)


def test_token_prices_use_the_details() -> None:
    usage = {"input_tokens": 150, "input_tokens_details": {"text_tokens": 50, "image_tokens": 100},
             "output_tokens": 1000, "output_tokens_details": {"text_tokens": 0, "image_tokens": 1000}}  # fmt: skip
    assert cost(TOKENS, usage, 1, "high") == pytest.approx((50 * 5 + 100 * 8 + 1000 * 30) / 1e6)


def test_output_tokens_without_details_are_image_tokens() -> None:
    # The Images API reports no output details; billing them as text was a peer's bug.
    usage = {"input_tokens": 10, "output_tokens": 4000}
    assert cost(TOKENS, usage, 1, None) == pytest.approx((10 * 5 + 4000 * 30) / 1e6)


@pytest.mark.parametrize(
    ("price", "usage", "images", "quality", "expected"),
    [
        (Price(per_image=0.04), None, 3, None, 0.12),
        (Price(per_image={"standard": 0.04, "hd": 0.08}), None, 1, "hd", 0.08),
        (Price(per_image={"standard": 0.04, "default": 0.05}), None, 2, "auto", 0.10),
        (Price(per_image={"standard": 0.04}), None, 1, "hd", None),
        (TOKENS, None, 1, None, None),
        (None, {"input_tokens": 1}, 1, None, None),
        (Price(per_image=0), None, 4, None, 0.0),
    ],
)
def test_per_image_prices(
    price: Price | None,
    usage: dict | None,
    images: int,
    quality: str | None,
    expected: float | None,
) -> None:
    assert cost(price, usage, images, quality) == expected


def test_garbage_usage_counts_as_zero() -> None:
    assert cost(TOKENS, {"input_tokens": "many", "output_tokens": -5}, 1, None) == 0.0
