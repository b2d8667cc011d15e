"""Bring a database to the newest schema with the packaged Alembic migrations."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

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
    """The database is not one this release can migrate: a newer release's, or not smsgate's."""


def _revisions() -> list[str]:
    # Each migration's file is named after its revision, and the revisions follow one another
    # in name order (tests/store/test_migrations.py holds the files to that).
    return [path.name.partition("_")[0] for path in (MIGRATIONS / "versions").glob("[0-9]*.py")]


def newest_revision() -> str:
    """The revision of the newest packaged migration."""
    return max(_revisions())


def schema_revision(connection: Connection) -> str | None:
    """The revision the database was migrated to; None when it never was."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    return connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def upgrade(engine: Engine) -> None:
    """Apply every migration not yet applied; safe to run at each start. ``UnknownSchema``
    when the database was migrated by a newer release (one rolled back, or an older host), or
    is not smsgate's (``refuse_unless_ours``)."""
    with engine.connect() as connection:
        revision = schema_revision(connection)
    if revision == newest_revision():
        # The usual start, of every process and admin command: loading Alembic and its scripts
        # to find nothing to do took a fifth of a second.
        return
    from alembic import command

    command.upgrade(alembic_config(engine), "head")


def refuse_unless_ours(connection: Connection) -> None:
    """``UnknownSchema`` unless the database is smsgate's at a revision of this release, or
    empty. Migrating another application's database would add tables to it and overwrite its
    own migrations' version. Run under the migration lock (``migrations/env.py``): a process
    migrating beside this one is then done, and seen whole."""
    revision = schema_revision(connection)
    tables = _application_tables(connection)
    if revision is None and tables:
        named = ", ".join(tables[:3]) + (", ..." if len(tables) > 3 else "")
        raise UnknownSchema(
            f"the database holds tables ({named}) and no smsgate schema: give smsgate a "
            "database of its own"
        )
    if revision is not None and revision not in _revisions():
        raise UnknownSchema(
            f"the database is at schema revision {revision!r}, which this smsgate does not "
            "have: the database was migrated by a newer smsgate (run that release, or restore "
            "the database), or it is another application's"
        )
    if revision is not None and "accounts" not in tables:
        raise UnknownSchema(
            f"the database says it is at schema revision {revision!r} but holds no smsgate "
            "tables: it is another application's"
        )


def _application_tables(connection: Connection) -> list[str]:
    """The tables some application made, by name: not SQLite's own, nor on PostgreSQL those of
    an extension installed in every new database (PostGIS's ``spatial_ref_sys``)."""
    names = inspect(connection).get_table_names()
    if connection.dialect.name == "sqlite":
        return sorted(name for name in names if not name.startswith("sqlite_"))
    extensions = connection.execute(
        text(
            "SELECT c.relname FROM pg_class c JOIN pg_depend d ON d.objid = c.oid "
            "WHERE d.deptype = 'e' AND c.relkind = 'r'"
        )
    ).scalars()
    return sorted(set(names).difference(extensions))


def open_migrated(
    url: str,
    *,
    durable: bool = True,
    lock_wait: float = LOCK_WAIT_SECONDS,
    transaction_pooling: bool = False,
) -> Database:
    """The database at ``url`` (see ``Database``), its schema brought up to date; closed again
    when that fails."""
    database = Database(
        url, durable=durable, lock_wait=lock_wait, transaction_pooling=transaction_pooling
    )
    try:
        upgrade(database.write_engine)
    except BaseException:
        database.close()
        raise
    return database
