"""Pure cost: USD for a finished request, from token usage when known, else per image."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.config.schema import Price


def cost(
    price: Price | None, usage: Mapping[str, Any] | None, images: int, quality: str | None
) -> float | None:
    """Token rates when the carrier reported usage and the price has them; else per image."""
    if price is None:
        return None
    token_cost = _token_cost(price, usage)
    if token_cost is not None:
        return round(token_cost, 6)
    per_image = price.per_image
    if isinstance(per_image, dict):
        per_image = per_image.get(quality or "auto", per_image.get("default"))
    return None if per_image is None else round(per_image * images, 6)


def _token_cost(price: Price, usage: Mapping[str, Any] | None) -> float | None:
    rates = (price.input_text_per_mtok, price.input_image_per_mtok, price.output_image_per_mtok)
    if usage is None or all(rate is None for rate in rates):
        return None
    text_in, image_in = _split(usage, "input_tokens", "input_tokens_details")
    text_out, image_out = _split(
        usage, "output_tokens", "output_tokens_details", image_default=True
    )
    text_rate, image_in_rate, image_out_rate = (rate or 0.0 for rate in rates)
    # Images API output tokens are image tokens; text output is not billed for image models.
    total = text_in * text_rate + image_in * image_in_rate + image_out * image_out_rate
    del text_out
    return total / 1_000_000


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
