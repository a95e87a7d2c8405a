"""Pure pricing in nano-dollars (USD 1e-9, integers): the exact cost of a finished request and
the worst-case estimate a budget holds before the upstream call.

Prices are decimals from the config (``app.config.schema.Price``); every amount here is exact
``Decimal`` arithmetic, rounded up to a whole nano-dollar once, at the end, so a charge or a
hold is never below the real amount. Three kinds of price:

- tokens: text in, image in and image out at their rates, from the carrier's ``usage``;
- per image, by size and quality (the most specific key of the table wins);
- per megapixel of output (and, optionally, of the input images).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_CEILING, Decimal
from typing import Any

from app.config.rules import FlexibleSizes, RuleSet
from app.config.schema import Price

NANOS_PER_USD = 1_000_000_000
_NANOS_PER_MTOK_USD = Decimal(NANOS_PER_USD) / 1_000_000  # 1 USD per Mtok = 1000 n$ a token
_MEGAPIXEL = 1_000_000

# Output image tokens OpenAI publishes for its GPT image models, by quality and size. Other
# sizes scale with their pixels; ``Price.output_tokens`` adds qualities (per 1024x1024).
IMAGE_TOKENS: dict[str, dict[str, int]] = {
    "low": {"1024x1024": 272, "1024x1536": 408, "1536x1024": 400},
    "medium": {"1024x1024": 1056, "1024x1536": 1584, "1536x1024": 1568},
    "high": {"1024x1024": 4160, "1024x1536": 6240, "1536x1024": 6208},
}
PARTIAL_IMAGE_TOKENS = 100  # each streamed partial image is billed as this many more
HIGH_FIDELITY_TOKENS = 4160  # what high input fidelity may add per input image
# What "auto" may render at for models with free-form sizes (OpenAI's choices).
AUTO_SIZES = ("1024x1024", "1536x1024", "1024x1536")


@dataclass(frozen=True, slots=True)
class Ask:
    """What a request may produce, for its worst-case estimate: ``n`` images at any of
    ``sizes`` (one size, or every size ``auto`` may pick), the prompt's length in bytes (an
    upper bound of its tokens), and the input images' dimensions (the mask included)."""

    n: int
    sizes: tuple[str, ...]
    quality: str | None
    prompt_bytes: int = 0
    inputs: tuple[tuple[int, int], ...] = ()
    partial_images: int = 0
    high_fidelity: bool = False


def price_at(prices: Iterable[Price], day: date) -> Price | None:
    """The price in effect on ``day``: the latest whose ``effective_from`` is not after it."""
    chosen = None
    for price in prices:  # oldest first (``app.core.catalog``)
        if price.effective_from is None or price.effective_from <= day:
            chosen = price
    return chosen


def candidate_sizes(size: str | None, rules: RuleSet) -> tuple[str, ...]:
    """The sizes a request may render at: its own, or all that ``auto`` (or none) may be."""
    if size is not None and size != "auto":
        return (size,)
    if isinstance(rules.sizes, FlexibleSizes):
        return AUTO_SIZES
    fixed = tuple(s for s in rules.sizes if s != "auto")
    return fixed or (rules.default_size,)


def pixels(size: str | None) -> int | None:
    width, _, height = (size or "").partition("x")
    if not (width.isdigit() and height.isdigit()):
        return None
    return int(width) * int(height)


def cost(
    price: Price | None,
    usage: Mapping[str, Any] | None,
    *,
    images: int,
    size: str | None,
    quality: str | None,
    input_pixels: int = 0,
) -> int | None:
    """What a finished request costs: tokens when the carrier reported usage and the price
    has token rates, else per megapixel, else per image; None when that cannot be known."""
    if price is None:
        return None
    if _has_token_rates(price):
        return None if usage is None else _nanos(_token_usd(price, usage))
    if price.per_megapixel is not None:
        output = pixels(size)
        if output is None:
            return None
        return _nanos(_megapixel_usd(price, output * images, input_pixels))
    amount = _per_image(price, size, quality)
    return None if amount is None else _nanos(amount * images)


def estimate(price: Price | None, ask: Ask) -> int | None:
    """The most ``ask`` can cost on a route with ``price``; None when it cannot be bounded
    (no price, or token prices for a quality whose image tokens are unknown)."""
    if price is None:
        return None
    if _has_token_rates(price):
        return _token_estimate(price, ask)
    if price.per_megapixel is not None:
        largest = max((pixels(s) or 0) for s in ask.sizes)
        inputs = sum(w * h for w, h in ask.inputs)
        return _nanos(_megapixel_usd(price, largest * ask.n, inputs))
    worst = Decimal(0)
    for size in ask.sizes:
        known = [a for q in _qualities(price, ask) if (a := _per_image(price, size, q)) is not None]
        if not known:
            return None
        worst = max(worst, *known)
    return _nanos(worst * ask.n)


def usd(nanos: int) -> str:
    """Exact USD as a plain decimal string: ``0.04``, ``0.000123``, ``12``."""
    return format((Decimal(nanos) / NANOS_PER_USD).normalize(), "f")


def _nanos(amount_usd: Decimal) -> int:
    return int((amount_usd * NANOS_PER_USD).to_integral_value(rounding=ROUND_CEILING))


def _has_token_rates(price: Price) -> bool:
    rates = (price.input_text_per_mtok, price.input_image_per_mtok, price.output_image_per_mtok)
    return any(rate is not None for rate in rates)


def _token_usd(price: Price, usage: Mapping[str, Any]) -> Decimal:
    text_in, image_in = _split(usage, "input_tokens", "input_tokens_details")
    _, image_out = _split(usage, "output_tokens", "output_tokens_details", image_default=True)
    # Images API output tokens are image tokens; text output is not billed for image models.
    return _tokens_usd(price, text_in, image_in, image_out)


def _tokens_usd(price: Price, text_in: int, image_in: int, image_out: int) -> Decimal:
    zero = Decimal(0)
    total = (
        text_in * (price.input_text_per_mtok or zero)
        + image_in * (price.input_image_per_mtok or zero)
        + image_out * (price.output_image_per_mtok or zero)
    )
    return total / 1_000_000


def _token_estimate(price: Price, ask: Ask) -> int | None:
    per_image = [_image_tokens(price, s, q) for s in ask.sizes for q in _token_qualities(ask)]
    if not per_image or any(t is None for t in per_image):
        return None
    out = max(t for t in per_image if t is not None) + ask.partial_images * PARTIAL_IMAGE_TOKENS
    image_in = sum(_input_tokens(w, h, ask.high_fidelity) for w, h in ask.inputs)
    return _nanos(_tokens_usd(price, ask.prompt_bytes, image_in, out * ask.n))


def _token_qualities(ask: Ask) -> tuple[str, ...]:
    return ("high",) if ask.quality in (None, "auto") else (ask.quality,)


def _image_tokens(price: Price, size: str, quality: str) -> int | None:
    """Output tokens of one image: the published number, else scaled by pixels."""
    table = dict(IMAGE_TOKENS.get(quality, {}))
    if quality in price.output_tokens:
        table["1024x1024"] = price.output_tokens[quality]
    if size in table:
        return table[size]
    area = pixels(size)
    if area is None or not table:
        return None
    return max(math.ceil(t * area / (pixels(s) or 1)) for s, t in table.items())


def _input_tokens(width: int, height: int, high_fidelity: bool) -> int:
    """An upper bound of one input image's tokens: 85 + 170 per 512-pixel tile once it fits
    in 2048x2048 (OpenAI's vision formula without its downscale to a 768 shortest side)."""
    scale = min(1.0, 2048 / max(width, height, 1))
    tiles = math.ceil(width * scale / 512) * math.ceil(height * scale / 512)
    return 85 + 170 * tiles + (HIGH_FIDELITY_TOKENS if high_fidelity else 0)


def _megapixel_usd(price: Price, output_pixels: int, input_pixels: int) -> Decimal:
    zero = Decimal(0)
    total = output_pixels * (price.per_megapixel or zero) + input_pixels * (
        price.input_per_megapixel or zero
    )
    return total / _MEGAPIXEL


def _qualities(price: Price, ask: Ask) -> tuple[str | None, ...]:
    """``auto`` (or none) may render at any quality the table prices."""
    if ask.quality not in (None, "auto") or not isinstance(price.per_image, dict):
        return (ask.quality,)
    named = {key.rpartition("/")[2] for key in price.per_image if pixels(key) is None}
    return (ask.quality, *sorted(named - {"default"}))


def _per_image(price: Price, size: str | None, quality: str | None) -> Decimal | None:
    table = price.per_image
    if not isinstance(table, dict):
        return table
    keys = (f"{size}/{quality or 'auto'}", quality or "auto", size, "default")
    return next((table[key] for key in keys if key is not None and key in table), None)


def _split(
    usage: Mapping[str, Any], total_key: str, details_key: str, *, image_default: bool = False
) -> tuple[int, int]:
    """(text, image) tokens; without details, all tokens count as text (or image)."""
    total = _int(usage.get(total_key))
    details = usage.get(details_key)
    if isinstance(details, Mapping):
        return _int(details.get("text_tokens")), _int(details.get("image_tokens"))
    return (0, total) if image_default else (total, 0)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
