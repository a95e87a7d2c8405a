"""The Alembic migrations shipped with the gateway."""

# The newest revision in ``versions/``: a database recording it needs no migration, which the
# gateway checks at start without loading Alembic (``app.db.migrate``). A new migration
# updates this line; ``tests/db/test_migrations.py`` fails until it does.
SHIPPED_HEAD = "0004"
