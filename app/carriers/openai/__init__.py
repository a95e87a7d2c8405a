"""Carrier ``openai``: OpenAI and every upstream that speaks its Images API."""

from app.carriers.openai.carrier import OpenAICarrier

__all__ = ["OpenAICarrier"]
