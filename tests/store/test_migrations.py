"""The packaged migrations build the schema the code declares, and the newest can be undone."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from smsgate.store.database import Database
from smsgate.store.migrate import alembic_config, upgrade
from smsgate.store.schema import metadata


def _differences(database: Database) -> list[object]:
    with database.write_engine.connect() as connection:
        return list(compare_metadata(MigrationContext.configure(connection), metadata))


def test_the_migrated_schema_is_the_declared_one(database: Database) -> None:
    assert _differences(database) == []


def test_the_newest_migration_goes_down_and_up_again(database: Database) -> None:
    config = alembic_config(database.write_engine)
    command.downgrade(config, "-1")
    assert _differences(database) != []
    upgrade(database.write_engine)
    assert _differences(database) == []
