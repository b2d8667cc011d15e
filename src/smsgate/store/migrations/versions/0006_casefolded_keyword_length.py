"""an incoming keyword's casefolded key has room for every keyword: 96 characters, not 64

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 10:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Casefolding makes up to three characters of one: a keyword of 32 "ΐ" has a 96-character
    # key, which PostgreSQL refused. SQLite does not check the length; the batch keeps the
    # declared one there too.
    with op.batch_alter_table("inbound_numbers") as table:
        table.alter_column(
            "prefix_key", type_=sa.String(96), existing_type=sa.String(64), existing_nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("inbound_numbers") as table:
        table.alter_column(
            "prefix_key", type_=sa.String(64), existing_type=sa.String(96), existing_nullable=False
        )
