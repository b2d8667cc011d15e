"""the flood probe's index leads with the destination

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 20:30:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_messages_destination_account_id_created_at",
        "messages",
        ["destination", "account_id", "created_at"],
        unique=False,
    )
    op.drop_index("ix_messages_account_id_destination_created_at", table_name="messages")


def downgrade() -> None:
    op.create_index(
        "ix_messages_account_id_destination_created_at",
        "messages",
        ["account_id", "destination", "created_at"],
        unique=False,
    )
    op.drop_index("ix_messages_destination_account_id_created_at", table_name="messages")
