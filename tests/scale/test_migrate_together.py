"""Servers started together on a fresh PostgreSQL database migrate it once between them.

Every ``serve`` brings the schema up to date before it listens. Processes of one deployment
start at the same moment (a supervisor's, a rollout's), and without the migrations' advisory
lock (``store/migrations/env.py``) each would find no ``alembic_version`` and create the schema
at once: all but one fail (PostgreSQL refuses the second ``CREATE TABLE alembic_version``) and
exit before they listen. With it, they take turns and the later ones find the work done.

Left to chance, three processes started together overlap in their ~0.1 s of migration only
some of the time. So the test holds the first step of any migration, creating
``alembic_version``, in a transaction of its own until every server waits for a lock (that
table's, or whatever the servers take turns with), then rolls it back: they all set off from
the same point, every time.

PostgreSQL only: on SQLite the migration's ``BEGIN IMMEDIATE`` serialises the processes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlalchemy.engine import make_url

from smsgate.services.accounts import AccountAdmin
from smsgate.store.database import Database
from smsgate.store.migrate import alembic_config
from smsgate.store.schema import metadata
from tests.api.helpers import wait_for
from tests.server import ServerProcess, http_client

SERVERS = 3
PASSWORD = "secret-password"


@pytest.mark.parametrize("databases", ["postgresql"], indirect=True)
def test_servers_started_together_migrate_a_fresh_database_once(
    database_url: str, tmp_path: Path
) -> None:
    """``database_url`` is fresh and not migrated: the servers are the only ones to migrate."""
    servers = [ServerProcess(database_url, tmp_path) for _ in range(SERVERS)]
    database = Database(database_url)
    try:
        # ServerProcess launches and waits for /healthz in one call (raising if the process
        # exits): a thread each, so all are launched at once.
        with ThreadPoolExecutor(SERVERS) as pool:
            with _version_table_held(database_url):
                launches = [pool.submit(server.start, "--no-dispatch") for server in servers]
                wait_for(lambda: database.read_sync(_waiting_for_locks) == SERVERS, timeout=20)
            for launched in launches:
                launched.result()

        head = ScriptDirectory.from_config(alembic_config(database.write_engine)).get_heads()
        assert database.read_sync(_versions) == head
        assert set(metadata.tables) <= set(database.read_sync(_tables))

        login = f"user-{uuid.uuid4().hex[:10]}"
        AccountAdmin(database).create(login, password=PASSWORD)
        for server in servers:
            assert server.process is not None and server.process.poll() is None, server.log_path
            with http_client(server.url) as client:
                response = client.get(
                    "/rest/Session/", params={"login": login, "password": PASSWORD}
                )
            assert response.status_code == 200, (server.url, response.text)
            assert isinstance(response.json(), str) and response.json(), response.text
    finally:
        for server in servers:
            server.stop()
        database.close()


@contextmanager
def _version_table_held(database_url: str) -> Iterator[None]:
    """While inside, an uncommitted ``alembic_version`` of the test's own holds up whoever
    creates that table; rolled back at the end, it leaves the database as fresh as before."""
    url = make_url(database_url).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False)) as connection:
        connection.execute("CREATE TABLE alembic_version (version_num varchar(32) NOT NULL)")
        try:
            yield
        finally:
            connection.rollback()


def _waiting_for_locks(connection: Connection) -> int:
    """The other sessions on this database waiting for a lock (a new transaction each call:
    ``pg_stat_activity`` keeps one snapshot for a transaction)."""
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
    )
    return int(connection.execute(waiting).scalar_one())


def _versions(connection: Connection) -> list[str]:
    return list(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())


def _tables(connection: Connection) -> list[str]:
    return inspect(connection).get_table_names()
