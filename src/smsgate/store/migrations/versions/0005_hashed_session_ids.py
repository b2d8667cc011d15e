"""session ids are kept as the first half of their SHA-256, not as themselves

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 07:55:00.000000
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_sessions = sa.table("sessions", sa.column("id", sa.String(32)))


def upgrade() -> None:
    connection = op.get_bind()
    for (session_id,) in connection.execute(sa.select(_sessions.c.id)).all():
        # As store.accounts.session_key keeps them (written out: a migration stays as it ran).
        key = hashlib.sha256(session_id.encode()).hexdigest()[:32]
        connection.execute(sa.update(_sessions).where(_sessions.c.id == session_id).values(id=key))


def downgrade() -> None:
    # A hash gives no id back: the sessions end, and clients open new ones.
    op.execute(sa.delete(_sessions))
