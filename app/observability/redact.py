"""Secrets never leave in text: one :class:`Redactor` masks every configured secret (carrier
keys, gateway keys) in strings and nested values, and :func:`redacted_logs` puts it in front of
every log handler, so no log line, message argument or traceback carries a key.

The pipeline masks all text a carrier hands back with the same class (``app.run.masking``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

MASK = "***"
_B64_ALPHABET = re.compile(r"[A-Za-z0-9+/=]+")
_PLAIN = frozenset({int, float, bool, type(None)})  # values without text, returned as they are


class Redactor:
    """Replaces each secret by ``***``; a Redactor without secrets returns its input as is."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is masked whole.
        self.secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))
        self._bytes = tuple(s.encode() for s in self.secrets if s.isascii())
        # Canonical base64 cannot contain a secret with a character outside its alphabet.
        self.fits_base64 = any(_B64_ALPHABET.fullmatch(s) for s in self.secrets)

    def __bool__(self) -> bool:
        return bool(self.secrets)

    def text(self, value: str) -> str:
        for secret in self.secrets:
            if secret in value:
                value = value.replace(secret, MASK)
        return value

    def found_in(self, value: str | bytes | memoryview) -> bool:
        """Whether any secret occurs in ``value`` (text or raw ASCII bytes)."""
        if isinstance(value, str):
            return any(secret in value for secret in self.secrets)
        raw = value if isinstance(value, bytes) else bytes(value)
        return any(secret in raw for secret in self._bytes)

    def value(self, value: Any) -> Any:
        """``value`` with every string in it masked, keys of mappings included."""
        if type(value) in _PLAIN:  # most of a usage object: numbers
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            masked = self.value
            return {masked(k): masked(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.value(item) for item in value)
        return value


class SecretFilter(logging.Filter):
    """Masks secrets in a record's message, arguments and traceback, in place."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        redactor = self.redactor
        # Formatted once here; the handler's formatter then finds the message ready.
        record.msg, record.args = redactor.text(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redactor.text(record.exc_text)
        if record.stack_info:
            record.stack_info = redactor.text(record.stack_info)
        return True


@contextmanager
def redacted_logs(secrets: Iterable[str]) -> Iterator[Redactor]:
    """Mask ``secrets`` in everything the root logger's handlers write, while inside."""
    redactor = Redactor(secrets)
    handlers = list(logging.getLogger().handlers)
    secret_filter = SecretFilter(redactor)
    if redactor:
        for handler in handlers:
            handler.addFilter(secret_filter)
    try:
        yield redactor
    finally:
        for handler in handlers:
            handler.removeFilter(secret_filter)
