"""session ids are kept as the first half of their SHA-256, not as themselves

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 07:55:00.000000
"""

from __future__ import annotations

import hashlib

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _session_key(session_id: str) -> str:
    # As store.accounts.session_key keeps them (written out: a migration stays as it ran).
    return hashlib.sha256(session_id.encode()).hexdigest()[:32]


def upgrade() -> None:
    # One statement for every row: sessions never expire by default, and there may be
    # millions (a row at a time, 200,000 took 30 s on SQLite and 53 s on PostgreSQL).
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        op.execute(
            "UPDATE sessions SET id = left(encode(sha256(convert_to(id, 'UTF8')), 'hex'), 32)"
        )
    else:
        driver = connection.connection.driver_connection
        assert driver is not None  # a live SQLite connection
        driver.create_function("smsgate_session_key", 1, _session_key, deterministic=True)
        op.execute("UPDATE sessions SET id = smsgate_session_key(id)")


def downgrade() -> None:
    # A hash gives no id back: the sessions end, and clients open new ones.
    op.execute("DELETE FROM sessions")
