"""The console's sessions (its only table: the console owns no business data).

Revision ID: 0001
Revises:
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("key_ciphertext", sa.String(1000), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("person", sa.String(200), nullable=False),
        sa.Column("client_id", sa.String(100), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("flash", sa.JSON(), nullable=True),
    )
    op.create_index("ix_console_sessions_last_seen_at", "console_sessions", ["last_seen_at"])


def downgrade() -> None:
    op.drop_index("ix_console_sessions_last_seen_at", "console_sessions")
    op.drop_table("console_sessions")
