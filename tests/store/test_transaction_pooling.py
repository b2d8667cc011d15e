"""PostgreSQL through a pooler in transaction mode (PgBouncer's): each transaction may run on
another server session, so nothing may rest on a session's state (a prepared statement, a
setting, a LISTEN)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Connection, text

from smsgate.services.accounts import AccountAdmin
from smsgate.store.database import Database
from tests.api.helpers import Deployment, send_ok, state, wait_for
from tests.databases import psycopg_url
from tests.server import ServerProcess, http_client

pytestmark = pytest.mark.parametrize("databases", ["postgresql"], indirect=True)

TIMEOUTS = ("lock_timeout", "idle_in_transaction_session_timeout", "synchronous_commit")


@pytest.mark.parametrize(("transaction_pooling", "prepared"), [(False, True), (True, False)])
def test_statements_are_prepared_on_the_server_only_on_a_direct_connection(
    database_url: str, transaction_pooling: bool, prepared: bool
) -> None:
    """psycopg prepares a statement run five times; through the pooler the next transaction's
    server session lacks it, or has another client's statement of that name."""
    database = Database(database_url, transaction_pooling=transaction_pooling)

    def run_often(connection: Connection) -> int:
        for number in range(10):
            connection.execute(text("SELECT CAST(:number AS integer) + 1"), {"number": number})
        count = text("SELECT count(*) FROM pg_prepared_statements")
        return int(connection.execute(count).scalar_one())

    try:
        assert (asyncio.run(database.write(run_often)) > 0) is prepared
        assert (database.read_sync(run_often) > 0) is prepared
    finally:
        database.close()


def test_the_timeouts_hold_in_every_transaction_whatever_its_server_session(
    database_url: str,
) -> None:
    """A server session the pooler gives a transaction may never have had smsgate's settings,
    or have another client's: a write behind a held lock would wait for ever, a frozen
    process keep its rows locked."""
    database = Database(database_url, durable=False, lock_wait=0.5, transaction_pooling=True)

    def reset(connection: Connection) -> None:
        for name in TIMEOUTS:
            connection.exec_driver_sql(f"SET {name} TO DEFAULT")

    def shown(connection: Connection) -> tuple[str, ...]:
        return tuple(connection.exec_driver_sql(f"SHOW {name}").scalar_one() for name in TIMEOUTS)

    async def scenario() -> tuple[str, ...]:
        await database.write(reset)  # made for the session, as a client through a pooler may
        return await database.write(shown)

    try:
        assert asyncio.run(scenario()) == ("500ms", "1500ms", "off")
        database.read_sync(reset)
        assert database.read_sync(shown) == ("500ms", "1500ms", "off")
    finally:
        database.close()


def test_a_connection_found_lost_by_its_first_setting_costs_no_write_or_read(
    database_url: str,
) -> None:
    """Through the pooler a transaction's first statement is its ``SET LOCAL``: a connection
    found lost there (a PgBouncer restarted, its idle clients cut off) is known as lost, and
    the write or read runs again on a fresh one, as on a direct connection."""
    database = Database(database_url, transaction_pooling=True)
    backend_pid = text("SELECT pg_backend_pid()")

    def end_backend(pid: int) -> None:
        with psycopg.connect(psycopg_url(database_url), autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s)", (pid,))

    async def scenario() -> None:
        written_on = await database.write(lambda c: c.execute(backend_pid).scalar_one())
        end_backend(written_on)
        assert await database.write(lambda c: c.execute(backend_pid).scalar_one()) != written_on

    try:
        asyncio.run(scenario())
        read_on = database.read_sync(lambda c: c.execute(backend_pid).scalar_one())
        end_backend(read_on)
        assert database.read_sync(lambda c: c.execute(backend_pid).scalar_one()) != read_on
    finally:
        database.close()


def listening_sessions(database: Database) -> int:
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND query LIKE 'LISTEN %'"
    )
    return int(database.read_sync(lambda connection: connection.execute(query).scalar_one()))


@pytest.mark.parametrize("listen_directly", [False, True])
def test_a_worker_behind_a_transaction_pooler_listens_only_on_the_url_given_for_it(
    database: Database, database_url: str, tmp_path: Path, listen_directly: bool
) -> None:
    """Notifications to a LISTEN made through the pooler are lost (PgBouncer warns of each):
    the worker listens on ``database_listen_url`` when given, else its poll finds the parts."""
    settings = {"database_transaction_pooling": "true", "simulator_delay": "0.1"}
    if listen_directly:
        settings["database_listen_url"] = database_url
    server = ServerProcess(database_url, tmp_path, **settings).start("--workers", "2")
    try:
        client = http_client(server.url)
        account = Deployment(server, database, AccountAdmin(database), client).make_account()
        ids = [send_ok(account, f"79165550{n}01")[0] for n in range(3)]
        wait_for(lambda: all(state(account, i)["State"] == 0 for i in ids), timeout=20)
        assert listening_sessions(database) == (1 if listen_directly else 0)
    finally:
        server.stop()
