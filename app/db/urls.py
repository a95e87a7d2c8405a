"""Database URLs as users write them, turned into the async drivers' URLs; passwords masked.

``postgres://`` and ``postgresql://`` (what libpq, Heroku and every hosting panel print) become
``postgresql+asyncpg://``; ``sqlite:///path`` becomes ``sqlite+aiosqlite:///path``. libpq's
``sslmode`` becomes asyncpg's ``ssl``. Any other driver is refused with a clear message rather
than failing later inside a sync driver.
"""

from __future__ import annotations

import re

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

_ASYNC = {"postgresql": "postgresql+asyncpg", "sqlite": "sqlite+aiosqlite"}
_ALIASES = {"postgres": "postgresql", "postgresql+asyncpg": "postgresql",
            "sqlite+aiosqlite": "sqlite"}  # fmt: skip
_PASSWORD = re.compile(r"(?P<head>[a-z0-9+.-]+://[^:/@\s]*:)(?P<secret>[^@\s]*)(?=@)", re.I)


class DatabaseURLError(ValueError):
    """A database URL that cannot be used; the message never holds the password."""


def mask(text: str) -> str:
    """``text`` with the password of any URL in it replaced by ``***``."""
    return _PASSWORD.sub(r"\g<head>***", text)


def async_url(raw: str) -> URL:
    """The async-driver URL for ``raw``; raises ``DatabaseURLError`` (password masked)."""
    try:
        url = make_url(raw.strip())
    except (ArgumentError, ValueError):
        # Not echoed, even masked: in a string that does not parse, the password is anywhere.
        raise DatabaseURLError(
            "not a database URL; expected postgresql://user:password@host/db or sqlite:///path"
        ) from None
    family = _ALIASES.get(url.drivername, url.drivername)
    if family not in _ASYNC:
        raise DatabaseURLError(
            f"unsupported database {url.drivername!r} in {masked(url)}: use postgresql:// "
            "or sqlite:///path"
        )
    url = url.set(drivername=_ASYNC[family])
    if family == "postgresql" and "sslmode" in url.query:
        query = dict(url.query)
        query["ssl"] = query.pop("sslmode")
        url = url.set(query=query)
    return url


def masked(url: URL | str) -> str:
    """The URL for messages and logs: password replaced by ``***``."""
    if isinstance(url, str):
        return mask(url)
    return url.render_as_string(hide_password=True)


def sqlite_path(url: URL) -> str | None:
    """The file of an SQLite URL; None for PostgreSQL and for in-memory databases."""
    if not url.drivername.startswith("sqlite"):
        return None
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file::memory:"):
        return None
    return database
