"""Imagegate: a self-hosted, OpenAI-compatible gateway for image generation."""

__version__ = "0.1.0"
