"""Bring a database to the newest schema with the packaged Alembic migrations."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


class UnknownSchema(Exception):
    """The database is at a schema revision this release does not have."""


def upgrade(engine: Engine) -> None:
    """Apply every migration not yet applied; safe to run at each start. ``UnknownSchema``
    when the database was migrated by a newer release (one rolled back, or an older host)."""
    try:
        command.upgrade(alembic_config(engine), "head")
    except CommandError as error:
        raise UnknownSchema(
            f"{error}: the database was migrated by a newer smsgate; "
            "run that release, or restore the database"
        ) from None
