"""Bring a database to the newest schema with the packaged Alembic migrations."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

from smsgate.store.database import LOCK_WAIT_SECONDS, Database

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "alembic_version"


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


class UnknownSchema(Exception):
    """The database is at a schema revision this release does not have."""


def newest_revision() -> str:
    """The revision of the newest packaged migration. Each migration's file is named after its
    revision, and the revisions follow one another in name order (tests/store/test_migrations.py
    holds the files to that)."""
    return max(path.name.partition("_")[0] for path in (MIGRATIONS / "versions").glob("[0-9]*.py"))


def schema_revision(engine: Engine) -> str | None:
    """The revision the database was migrated to; None when it never was."""
    with engine.connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return None
        return connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def upgrade(engine: Engine) -> None:
    """Apply every migration not yet applied; safe to run at each start. ``UnknownSchema``
    when the database was migrated by a newer release (one rolled back, or an older host)."""
    if schema_revision(engine) == newest_revision():
        # The usual start, of every process and admin command: loading Alembic and its scripts
        # to find nothing to do took a fifth of a second.
        return
    from alembic import command
    from alembic.util import CommandError

    try:
        command.upgrade(alembic_config(engine), "head")
    except CommandError as error:
        raise UnknownSchema(
            f"{error}: the database was migrated by a newer smsgate; "
            "run that release, or restore the database"
        ) from None


def open_migrated(
    url: str, *, durable: bool = True, lock_wait: float = LOCK_WAIT_SECONDS
) -> Database:
    """The database at ``url`` (see ``Database``), its schema brought up to date; closed again
    when that fails."""
    database = Database(url, durable=durable, lock_wait=lock_wait)
    try:
        upgrade(database.write_engine)
    except BaseException:
        database.close()
        raise
    return database
