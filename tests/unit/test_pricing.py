"""Exact cost and worst-case estimates, in nano-dollars, for each kind of price."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from app.config import Price
from app.core.pricing import AUTO_SIZES, Ask, candidate_sizes, cost, estimate, price_at, usd
from tests.support.rules import RULES

TOKENS = Price(input_text_per_mtok=5, input_image_per_mtok=8, output_image_per_mtok=30)
TABLE = Price(
    per_image={
        "1024x1024/high": Decimal("0.167"),
        "high": Decimal("0.2"),
        "1024x1024": Decimal("0.05"),
        "default": Decimal("0.01"),
    }
)
MEGAPIXEL = Price(per_megapixel=Decimal("0.015"), input_per_megapixel=Decimal("0.01"))


def test_token_prices_use_the_details_exactly() -> None:
    usage = {
        "input_tokens": 150,
        "input_tokens_details": {"text_tokens": 50, "image_tokens": 100},
        "output_tokens": 1000,
        "output_tokens_details": {"text_tokens": 0, "image_tokens": 1000},
    }
    # (50 x 5 + 100 x 8 + 1000 x 30) USD per million tokens = 0.03105 USD
    assert cost(TOKENS, usage, images=1, size="1024x1024", quality="high") == 31_050_000


def test_output_tokens_without_details_are_image_tokens() -> None:
    # The Images API reports no output details; billing them as text was a peer's bug.
    usage = {"input_tokens": 10, "output_tokens": 4000}
    assert cost(TOKENS, usage, images=1, size=None, quality=None) == (10 * 5 + 4000 * 30) * 1000


def test_a_token_price_without_usage_is_unknown_not_free() -> None:
    assert cost(TOKENS, None, images=1, size="1024x1024", quality="high") is None


@pytest.mark.parametrize(
    ("size", "quality", "expected"),
    [
        ("1024x1024", "high", 167_000_000),  # SIZE/QUALITY beats QUALITY and SIZE
        ("1536x1024", "high", 200_000_000),  # then QUALITY
        ("1024x1024", "low", 50_000_000),  # then SIZE
        ("1536x1024", "low", 10_000_000),  # then default
    ],
)
def test_per_image_prices_by_size_and_quality(size: str, quality: str, expected: int) -> None:
    assert cost(TABLE, None, images=1, size=size, quality=quality) == expected
    assert cost(TABLE, None, images=3, size=size, quality=quality) == 3 * expected


def test_flat_prices_from_yaml_floats_stay_exact() -> None:
    price = Price.model_validate({"per_image": 0.1})  # YAML gives a float; 3 x 0.1 is 0.3
    assert cost(price, None, images=3, size=None, quality=None) == 300_000_000
    assert (
        cost(
            Price(per_image={"standard": Decimal("0.04")}), None, images=1, size=None, quality="hd"
        )
        is None
    )
    assert cost(Price(per_image=0), None, images=4, size=None, quality=None) == 0
    assert cost(None, {"input_tokens": 1}, images=1, size=None, quality=None) is None


def test_per_megapixel_prices_count_output_and_input_pixels() -> None:
    # 2 x 1024 x 1024 = 2.097152 MP x 0.015 + 1 MP x 0.01 = 0.04145728 USD
    got = cost(MEGAPIXEL, None, images=2, size="1024x1024", quality=None, input_pixels=1_000_000)
    assert got == 41_457_280


def test_amounts_round_up_to_a_whole_nano_dollar() -> None:
    price = Price(input_text_per_mtok=Decimal("0.0005"))  # half a nano-dollar per token
    assert cost(price, {"input_tokens": 3}, images=1, size=None, quality=None) == 2


def test_the_price_in_effect_on_the_day_applies() -> None:
    old, new = (
        Price(per_image=Decimal("0.04")),
        Price(per_image=Decimal("0.05"), effective_from=date(2026, 12, 1)),
    )
    assert price_at((old, new), date(2026, 11, 30)) is old
    assert price_at((old, new), date(2026, 12, 1)) is new
    assert price_at((new,), date(2026, 11, 30)) is None


def test_token_estimates_take_published_image_tokens() -> None:
    ask = Ask(n=2, sizes=("1024x1024",), quality="high", prompt_bytes=100)
    assert estimate(TOKENS, ask) == (2 * 4160 * 30 + 100 * 5) * 1000
    auto = Ask(n=1, sizes=AUTO_SIZES, quality=None)
    assert estimate(TOKENS, auto) == 6240 * 30 * 1000  # the largest size at high quality
    big = Ask(n=1, sizes=("2048x2048",), quality="high")
    assert estimate(TOKENS, big) == 16_640 * 30 * 1000  # scaled by pixels


def test_token_estimates_count_inputs_and_partial_images() -> None:
    ask = Ask(n=1, sizes=("1024x1024",), quality="low", inputs=((1024, 1024),), partial_images=2)
    # 272 + 2 x 100 output tokens; the input: 85 + 170 x 4 tiles = 765 tokens
    assert estimate(TOKENS, ask) == ((272 + 200) * 30 + 765 * 8) * 1000
    fidelity = Ask(
        n=1, sizes=("1024x1024",), quality="low", inputs=((1024, 1024),), high_fidelity=True
    )
    assert estimate(TOKENS, fidelity) == (272 * 30 + (765 + 4160) * 8) * 1000


def test_an_unknown_quality_cannot_be_bounded_unless_the_price_says() -> None:
    ask = Ask(n=1, sizes=("1024x1024",), quality="xhigh")
    assert estimate(TOKENS, ask) is None
    with_tokens = TOKENS.model_copy(update={"output_tokens": {"xhigh": 8000}})
    assert estimate(with_tokens, ask) == 8000 * 30 * 1000


def test_per_image_and_megapixel_estimates_take_the_worst_case() -> None:
    dalle = Price(per_image={"standard": Decimal("0.04"), "hd": Decimal("0.08")})
    assert estimate(dalle, Ask(n=2, sizes=("1024x1024",), quality=None)) == 160_000_000
    assert estimate(dalle, Ask(n=1, sizes=("1024x1024",), quality="standard")) == 40_000_000
    assert estimate(TABLE, Ask(n=1, sizes=AUTO_SIZES, quality=None)) == 200_000_000
    mp = Ask(n=1, sizes=("1024x1024", "1536x1024"), quality=None, inputs=((1000, 1000),))
    assert estimate(MEGAPIXEL, mp) == 1_536 * 1_024 * 15 + 1_000_000 * 10
    assert estimate(None, mp) is None


def test_candidate_sizes_of_auto() -> None:
    flexible = RULES["gpt-image-2"]
    assert candidate_sizes(None, flexible) == AUTO_SIZES
    assert candidate_sizes("2048x1152", flexible) == ("2048x1152",)
    fixed = RULES["dall-e-3"]
    assert candidate_sizes(None, fixed) == ("1024x1024", "1792x1024", "1024x1792")


def test_usd_is_an_exact_plain_decimal() -> None:
    assert [usd(40_000_000), usd(123), usd(12 * 10**9), usd(0)] == [
        "0.04",
        "0.000000123",
        "12",
        "0",
    ]
