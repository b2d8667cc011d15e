"""Whether the database answers: a real query on a connection of its own.

A pooled connection can outlive its SQLite file, and a pool can hide a server that went away:
each probe opens a new connection, and never creates a database.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from smsgate.store.accounts import read_config_revision


def probe_engine(url: str, timeout: float) -> Engine:
    """An engine that opens a new connection for every probe, waiting ``timeout`` at most."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        # mode=rw: a missing file is an error rather than a new, empty database.
        target = f"{Path(parsed.database or '').resolve().as_uri()}?mode=rw"
        return create_engine(
            "sqlite://",
            poolclass=NullPool,
            creator=lambda: sqlite3.connect(target, uri=True, timeout=timeout),
        )
    return create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": int(timeout)})


class ReadOnlyDatabase(Exception):
    """The database answers but takes no writes: a standby, or one made read-only."""


def probe(engine: Engine) -> None:
    """Raise the driver's error unless the database answers a query of the schema, and
    ``ReadOnlyDatabase`` when it would refuse every send."""
    with engine.connect() as connection:
        read_config_revision(connection)
        if connection.dialect.name == "postgresql":
            read_only = connection.exec_driver_sql("SHOW transaction_read_only").scalar()
            if read_only == "on":
                raise ReadOnlyDatabase("the database takes no writes")
