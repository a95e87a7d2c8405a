"""Every database test runs twice: on a fresh SQLite file and on a fresh PostgreSQL database
(fixtures described in ``tests.support.databases``)."""

from tests.support.databases import database_url, empty_database_url, engine

__all__ = ["database_url", "empty_database_url", "engine"]
