"""on SQLite, incoming message and report ids are never given again (AUTOINCREMENT)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 12:20:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# Clients keep these ids: a receiver drops an incoming message whose ID it has seen, and a
# report is fetched by its id. Without AUTOINCREMENT SQLite gives the next row the largest id
# in use plus one, so once retention had deleted every row (the largest among them), ids
# started again from 1. PostgreSQL's sequences never go back.
TABLES = ("incoming_messages", "reports")


def upgrade() -> None:
    _recreate(autoincrement=True)


def downgrade() -> None:
    _recreate(autoincrement=False)


def _recreate(*, autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        # The table is copied into a new one with the same rows and indexes; SQLite's
        # sqlite_sequence starts from the largest id copied.
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ):
            pass
