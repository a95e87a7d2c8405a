"""Migration 0003 on SQLite and PostgreSQL: images recorded before it keep everything and are
on the local backend; keys and teams gain an unset retention and URL mode; and it goes down
to 0002 and up again."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, text

from app.db.engine import create_engine
from app.db.migrate import alembic_config, head, upgrade

OLD_IMAGE = (
    "INSERT INTO images (id, request_id, key_id, team_id, model, created_at, format, width, "
    "height, bytes, location, expires_at, deleted_at, prompt) VALUES ('img_old', 'req-old', "
    "'key_1', NULL, 'gpt-image-2', '2026-11-01 10:00:00', 'png', 8, 8, 10, 'img_old.png', NULL, "
    "NULL, 'a fox')"
)
OLD_TEAM = (
    "INSERT INTO teams (id, name, created_at, updated_at, budget_period, metadata) VALUES "
    "('team_1', 'design', '2026-11-01 10:00:00', '2026-11-01 10:00:00', 'month', '{}')"
)


async def test_0003_keeps_old_images_and_goes_down_and_up(empty_database_url: str) -> None:
    engine = create_engine(empty_database_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(lambda c: command.upgrade(alembic_config(c), "0002"))
            await connection.execute(text(OLD_IMAGE))
            await connection.execute(text(OLD_TEAM))
        assert await upgrade(empty_database_url) == head()
        async with engine.connect() as connection:
            image = (await connection.execute(text("SELECT * FROM images"))).mappings().one()
            team = (await connection.execute(text("SELECT * FROM teams"))).mappings().one()
            indexes = await connection.run_sync(
                lambda c: {ix["name"] for ix in inspect(c).get_indexes("images")}
            )
        assert (image["id"], image["backend"], image["location"], image["prompt"]) == (
            "img_old", "local", "img_old.png", "a fox",
        )  # fmt: skip
        assert (team["retention_seconds"], team["url_mode"]) == (None, None)
        assert {"ix_images_key_id_created_at_id", "ix_images_team_id_created_at_id",
                "ix_images_deleted_at_expires_at"} <= indexes  # fmt: skip
        async with engine.begin() as connection:
            await connection.run_sync(lambda c: command.downgrade(alembic_config(c), "0002"))
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
            columns = await connection.run_sync(
                lambda c: {col["name"] for col in inspect(c).get_columns("images")}
            )
            kept = (await connection.execute(text("SELECT id FROM images"))).scalars().all()
        assert "replica_leases" not in tables and "backend" not in columns
        assert kept == ["img_old"]
        assert await upgrade(empty_database_url) == head()
    finally:
        await engine.dispose()
