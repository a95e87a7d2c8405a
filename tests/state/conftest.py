"""Shared-state tests run against real servers: the machine's Redis under a prefix of each
test's own, private redis-servers for outages, and both databases (``tests.support``)."""

from tests.support.databases import database_url, empty_database_url, engine
from tests.support.redis import private, redis_prefix, shared

__all__ = ["database_url", "empty_database_url", "engine", "private", "redis_prefix", "shared"]
