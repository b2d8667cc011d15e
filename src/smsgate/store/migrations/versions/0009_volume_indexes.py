"""indexes for a store of months of traffic: Statistic from the index alone, sessions swept by
expiry and revoked by account

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 07:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

WITH_LIFETIME = sa.text("expires_at IS NOT NULL")


def _account_time_index(include: list[str]) -> None:
    op.drop_index("ix_messages_account_id_created_at", table_name="messages")
    op.create_index(
        "ix_messages_account_id_created_at",
        "messages",
        ["account_id", "created_at"],
        postgresql_include=include,
    )


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        _account_time_index(include=["state"])
    op.create_index(
        "ix_sessions_expires_at",
        "sessions",
        ["expires_at"],
        sqlite_where=WITH_LIFETIME,
        postgresql_where=WITH_LIFETIME,
    )
    op.create_index("ix_sessions_account_id", "sessions", ["account_id"])


def downgrade() -> None:
    op.drop_index("ix_sessions_account_id", table_name="sessions")
    op.drop_index("ix_sessions_expires_at", table_name="sessions")
    if op.get_context().dialect.name == "postgresql":
        _account_time_index(include=[])
