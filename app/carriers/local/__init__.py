"""Carrier ``local``: the offline renderer (Pillow), for development and offline mode."""

from app.carriers.local.carrier import LocalCarrier

__all__ = ["LocalCarrier"]
