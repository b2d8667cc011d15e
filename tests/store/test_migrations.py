"""The packaged migrations build the schema the code declares, the newest can be undone, and
the data they move arrives."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, delete, inspect, select, update

from smsgate.domain.states import MessageState
from smsgate.services.accounts import AccountAdmin
from smsgate.store.accounts import find_session, session_key
from smsgate.store.database import Database
from smsgate.store.messages import insert_parts
from smsgate.store.migrate import (
    MIGRATIONS,
    UnknownSchema,
    alembic_config,
    newest_revision,
    upgrade,
)
from smsgate.store.schema import incoming_messages, messages, metadata, sessions
from tests.store.parts import part_row


def _differences(database: Database) -> list[object]:
    with database.write_engine.connect() as connection:
        return list(compare_metadata(MigrationContext.configure(connection), metadata))


def test_the_migrated_schema_is_the_declared_one(database: Database) -> None:
    assert _differences(database) == []


def _revision(database: Database) -> str | None:
    with database.write_engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def test_the_newest_migration_goes_down_and_up_again(database: Database) -> None:
    config = alembic_config(database.write_engine)
    newest = _revision(database)
    command.downgrade(config, "-1")
    assert _revision(database) != newest
    upgrade(database.write_engine)
    assert _revision(database) == newest
    assert _differences(database) == []


def test_sessions_kept_before_hashing_go_on_under_their_hash(database: Database) -> None:
    config = alembic_config(database.write_engine)
    command.downgrade(config, "0004")
    account_id = AccountAdmin(database).create("kept", password="account-password")
    session_id = "0123456789abcdef0123456789abcdef"
    now = datetime.now(UTC)
    database.write_sync(
        lambda c: c.execute(
            sessions.insert().values(id=session_id, account_id=account_id, created_at=now)
        )
    )
    upgrade(database.write_engine)
    assert database.read_sync(lambda c: find_session(c, session_id)) == (account_id, None)
    kept = database.read_sync(lambda c: c.execute(select(sessions.c.id)).scalars().all())
    assert kept == [session_key(session_id)] and session_id not in kept


def test_incoming_message_ids_are_never_given_again(database: Database) -> None:
    """Receivers drop a message whose ID they saw: once retention deleted every message, the
    next one took ID 1 again on SQLite (kept messages move through the migration)."""
    command.downgrade(alembic_config(database.write_engine), "0006")
    now = datetime.now(UTC)
    row = {
        "prefix": "",
        "source": "79001234567",
        "destination": "1234",
        "text": "hi",
        "connector": "simulator",
        "created_at": now,
    }

    def insert(connection: Connection) -> int:
        inserted = incoming_messages.insert().values(**row).returning(incoming_messages.c.id)
        return int(connection.execute(inserted).scalar_one())

    assert [database.write_sync(insert) for _ in range(2)] == [1, 2]
    upgrade(database.write_engine)
    assert database.read_sync(
        lambda c: c.execute(select(incoming_messages.c.id)).scalars().all()
    ) == [1, 2]
    database.write_sync(lambda c: c.execute(delete(incoming_messages)))  # retention, say
    assert database.write_sync(insert) == 3


def test_a_part_released_from_a_lapsed_claim_keeps_its_mark(database: Database) -> None:
    """Before 0008 the mark was the lease a waiting part kept; it moves to its own column."""
    command.downgrade(alembic_config(database.write_engine), "0007")
    account_id = AccountAdmin(database).create("marked", password="account-password")
    now = datetime.now(UTC)
    rows = [
        part_row(1, account_id, now),  # released from a lapsed claim
        part_row(2, account_id, now),  # never claimed
        part_row(3, account_id, now, state=MessageState.SUBMITTING.value),  # claimed
    ]
    database.write_sync(lambda c: insert_parts(c, rows))
    leased = update(messages).where(messages.c.id.in_([1, 3])).values(lease_until=now)
    database.write_sync(lambda c: c.execute(leased))
    upgrade(database.write_engine)
    query = select(messages.c.id, messages.c.maybe_submitted, messages.c.lease_until)
    marks = {row[0]: row[1:] for row in database.read_sync(lambda c: c.execute(query).all())}
    assert marks == {1: (True, None), 2: (False, None), 3: (False, now)}


def test_each_migration_file_is_named_after_its_revision_in_order() -> None:
    """``newest_revision`` reads the newest revision from the file names, without Alembic."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory(str(MIGRATIONS))
    chain = list(reversed(list(scripts.walk_revisions())))
    assert [script.revision for script in chain] == sorted(script.revision for script in chain)
    for script in chain:
        assert script.path is not None
        assert Path(script.path).name.partition("_")[0] == script.revision
    assert scripts.get_heads() == [newest_revision()]


def test_a_start_on_a_current_schema_does_not_load_alembic(database: Database) -> None:
    """Every server and admin command starts by bringing the schema up to date."""
    check = (
        "import sys\n"
        "from smsgate.store.database import Database\n"
        "from smsgate.store.migrate import upgrade\n"
        f"upgrade(Database({database.url!r}).write_engine)\n"
        "assert 'alembic' not in sys.modules, 'alembic was loaded'\n"
    )
    finished = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, timeout=60
    )
    assert finished.returncode == 0, finished.stderr


def _tables_and_revision(database: Database) -> tuple[list[str], str | None]:
    with database.write_engine.connect() as connection:
        revision = MigrationContext.configure(connection).get_current_revision()
        return sorted(inspect(connection).get_table_names()), revision


@pytest.mark.parametrize(
    ("statements", "message"),
    [
        (
            [
                "CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)",
                "INSERT INTO alembic_version VALUES ('0001')",
                "CREATE TABLE users (id INTEGER PRIMARY KEY)",
            ],
            "says it is at schema revision '0001' but holds no smsgate tables",
        ),
        (
            ["CREATE TABLE invoices (id INTEGER PRIMARY KEY)"],
            "the database holds tables (invoices) and no smsgate schema",
        ),
        (
            [
                "CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)",
                "INSERT INTO alembic_version VALUES ('ae1027a6acf')",
            ],
            "or it is another application's",
        ),
    ],
    ids=["its revision one of ours", "never migrated", "its revision not ours"],
)
def test_another_applications_database_is_refused_unchanged(
    database_url: str, statements: list[str], message: str
) -> None:
    # Its migrations' version was overwritten and smsgate's tables added beside its own.
    database = Database(database_url)
    try:
        database.write_sync(
            lambda connection: [connection.exec_driver_sql(sql) for sql in statements]
        )
        before = _tables_and_revision(database)
        with pytest.raises(UnknownSchema, match=re.escape(message)):
            upgrade(database.write_engine)
        assert _tables_and_revision(database) == before
    finally:
        database.close()


@pytest.mark.parametrize("databases", ["postgresql"], indirect=True)
def test_a_table_of_an_extension_every_new_database_has_is_no_other_applications(
    database_url: str,
) -> None:
    # As PostGIS's spatial_ref_sys, in a template every database is made from.
    database = Database(database_url)
    try:
        database.write_sync(
            lambda connection: [
                connection.exec_driver_sql(sql)
                for sql in (
                    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
                    "CREATE TABLE spatial_ref_sys (srid INTEGER PRIMARY KEY)",
                    "ALTER EXTENSION pg_trgm ADD TABLE spatial_ref_sys",
                )
            ]
        )
        upgrade(database.write_engine)
        assert _revision(database) == newest_revision()
    finally:
        database.close()
