"""The database backends the tests run on: SQLite files, and databases on a PostgreSQL server.

Every test that touches the store runs once per backend (the ``databases`` fixture of the root
conftest). Each server or fixture gets a fresh database of its own: on SQLite a file in its
work folder, on PostgreSQL ``smsgate_test_<random>``, made on the server that
``SMSGATE_TEST_POSTGRES_URL`` names (the local one by default) and dropped afterwards. It is
empty, or a copy of one database migrated once per backend and test process: migrating each
anew took 0.2-0.5 s, a copy takes 5 ms (SQLite) or 0.05-0.3 s (PostgreSQL). On PostgreSQL the
next copy is made, and used ones dropped, on a thread of their own while the tests run.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing, contextmanager
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url

from smsgate.store.migrate import open_migrated

BACKENDS = ("sqlite", "postgresql")
POSTGRES_URL_VARIABLE = "SMSGATE_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
CONNECT_TIMEOUT_SECONDS = 5


def backend_of(test_id: str) -> str | None:
    """The backend a test runs on, by its id's parameters; None for a test of no backend."""
    if not test_id.endswith("]"):
        return None
    parameters = test_id[test_id.rindex("[") + 1 : -1].split("-")
    return next((backend for backend in BACKENDS if backend in parameters), None)


class BackendUnavailable(Exception):
    """The backend's server cannot be reached; the message says which and why."""


class Databases:
    """Makes fresh databases of one backend and drops them (all that remain, at ``close``)."""

    def __init__(self, backend: str, server_url: URL | None = None) -> None:
        self.backend = backend
        self.server_url = server_url  # PostgreSQL: where to CREATE and DROP the databases
        self._created: set[str] = set()
        # The database that migrated ones copy: its file (SQLite) or name (PostgreSQL).
        self._template: str | None = None
        self._template_folder: Path | None = None
        # PostgreSQL: makes the next copy and drops used databases, one statement at a time.
        self._background = ThreadPoolExecutor(1, thread_name_prefix="databases")
        self._next_copy: Future[str] | None = None

    @classmethod
    def open(cls, backend: str) -> Databases:
        """The backend's database maker; raises ``BackendUnavailable``."""
        if backend == "sqlite":
            return cls(backend)
        raw = os.environ.get(POSTGRES_URL_VARIABLE) or DEFAULT_POSTGRES_URL
        # Any driver the URL names: the servers pick their own, psycopg here takes libpq's.
        server_url = make_url(raw).set(drivername="postgresql")
        databases = cls(backend, server_url)
        try:
            databases._run(sql.SQL("SELECT 1"))
        except psycopg.OperationalError as error:
            shown = server_url.render_as_string(hide_password=True)
            raise BackendUnavailable(
                f"PostgreSQL at {shown} is unreachable (set {POSTGRES_URL_VARIABLE}): {error}"
            ) from error
        return databases

    def create(self, workdir: Path, migrated: bool = False) -> str:
        """The URL of a new database, empty or ``migrated`` to the newest schema; on SQLite the
        file ``smsgate.db`` in ``workdir``, made empty (which SQLite reads as an empty
        database), as PostgreSQL's is made."""
        template = self._migrated_template() if migrated else None
        if self.server_url is None:
            path = workdir / "smsgate.db"
            if template is None:
                path.touch()
            else:
                shutil.copyfile(template, path)
            return f"sqlite:///{path}"
        if template is None:
            name = self._create_database()
        else:
            copy = self._next_copy or self._background.submit(self._create_database, template)
            self._next_copy = self._background.submit(self._create_database, template)
            name = copy.result()
        return self.server_url.set(database=name).render_as_string(hide_password=False)

    def _create_database(self, template: str | None = None) -> str:
        name = f"smsgate_test_{uuid.uuid4().hex[:16]}"
        self._created.add(name)  # before it exists: ``close`` drops it if it ever does
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            statement = sql.SQL("{} TEMPLATE {}").format(statement, sql.Identifier(template))
        self._run(statement)
        return name

    def _migrated_template(self) -> str:
        """The file or name of the database migrated ones copy, migrated at the first call and
        left with no connection: PostgreSQL copies only a database nobody is connected to, and
        SQLite folds its log into the file when the last connection closes."""
        if self._template is None:
            self._template_folder = Path(tempfile.mkdtemp(prefix="smsgate-template-"))
            url = self.create(self._template_folder)
            open_migrated(url).close()
            self._template = make_url(url).database
        assert self._template is not None
        return self._template

    def drop(self, url: str) -> None:
        """Drop a database that ``create`` made, even with clients still connected."""
        name = make_url(url).database
        if name in self._created:
            self._background.submit(self._drop, name)

    @contextmanager
    def unreachable(self, url: str) -> Iterator[None]:
        """While inside, the database at ``url`` refuses every client, connected or new."""
        name = make_url(url).database
        assert name is not None
        if self.server_url is None:
            path = Path(name)
            aside = path.with_name(f"{path.name}.aside")
            # Tests run as root, whom file modes do not stop: a folder in the file's place does.
            path.rename(aside)
            path.mkdir()
            try:
                yield
            finally:
                path.rmdir()
                aside.rename(path)
            return
        allow = sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}")
        self._run(allow.format(sql.Identifier(name), sql.SQL("false")))
        self._run(
            sql.SQL(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = {}"
            ).format(sql.Literal(name))
        )
        try:
            yield
        finally:
            self._run(allow.format(sql.Identifier(name), sql.SQL("true")))

    def close(self) -> None:
        self._background.shutdown(wait=True)  # the copy made ahead stays in ``_created``
        for name in sorted(self._created):
            self._drop(name)
        if self._template_folder is not None:
            shutil.rmtree(self._template_folder, ignore_errors=True)

    def _drop(self, name: str) -> None:
        self._run(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        self._created.discard(name)

    def _run(self, statement: sql.SQL | sql.Composed) -> None:
        assert self.server_url is not None
        with psycopg.connect(
            self.server_url.render_as_string(hide_password=False),
            autocommit=True,  # CREATE and DROP DATABASE refuse to run in a transaction
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
        ) as connection:
            connection.execute(statement)


def psycopg_url(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(False)


@contextmanager
def write_lock_held(database_url: str, table: str = "accounts") -> Iterator[None]:
    """Another client holding what a write needs: SQLite's write lock, or a PostgreSQL
    ``table`` (as an operator's ``LOCK TABLE`` or a migration would)."""
    if database_url.startswith("sqlite"):
        with closing(sqlite3.connect(str(make_url(database_url).database))) as other:
            other.execute("BEGIN IMMEDIATE")
            yield
            other.rollback()
    else:
        with psycopg.connect(psycopg_url(database_url)) as other:
            other.execute(
                sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(sql.Identifier(table))
            )
            yield
            other.rollback()
