"""the parts of a joined incoming message are kept a while, marked joined

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 01:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import smsgate.store.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incoming_fragments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("joined_at", smsgate.store.types.UtcDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("incoming_fragments", schema=None) as batch_op:
        batch_op.drop_column("joined_at")
