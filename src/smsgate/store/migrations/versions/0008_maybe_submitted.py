"""a part whose submit may have reached an SMSC unrecorded says so in a column of its own

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 04:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Until now the mark was a lease kept by a waiting part, which a submit again that was only
# throttled cleared: the part was then refunded as unsent, though the SMSC may have taken it.
WAITING = "state IN ('queued', 'scheduled')"


def upgrade() -> None:
    op.add_column(
        "messages",
        sa.Column("maybe_submitted", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.execute(
        f"UPDATE messages SET maybe_submitted = true, lease_until = NULL"
        f" WHERE {WAITING} AND lease_until IS NOT NULL"
    )


def downgrade() -> None:
    op.execute(
        f"UPDATE messages SET lease_until = due_at WHERE {WAITING} AND maybe_submitted = true"
    )
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("maybe_submitted")
