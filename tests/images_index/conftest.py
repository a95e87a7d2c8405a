"""Image index tests run on both databases (fixtures described in ``tests.support.databases``)."""

from tests.support.databases import database_url, empty_database_url, engine

__all__ = ["database_url", "empty_database_url", "engine"]
