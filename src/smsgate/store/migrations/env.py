"""Alembic environment: runs on the engine handed over in ``config.attributes``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from smsgate.store.migrate import refuse_unless_ours
from smsgate.store.schema import metadata

# Any constant of our own: processes starting together on one PostgreSQL database take turns.
MIGRATION_LOCK = 0x5_3_5_6_7_1

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        # The version is read after the lock, so the later process finds the work done. (On
        # SQLite the transaction starts with BEGIN IMMEDIATE, which serialises the same way.)
        if connection.dialect.name == "postgresql":
            # A migration may wait for the tables as long as it takes (servers still running
            # the old release), and so may the processes starting after it; and it may
            # compute between its statements.
            connection.execute(text("SET LOCAL lock_timeout = 0"))
            connection.execute(text("SET LOCAL idle_in_transaction_session_timeout = 0"))
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        refuse_unless_ours(connection)
        context.run_migrations()
