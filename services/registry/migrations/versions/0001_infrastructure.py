"""infrastructure tables: outbox, inbox, api keys, idempotency, audit, PII read log, DLQ log

Revision ID: registry_0001
Revises:
Create Date: 2026-11-29
"""

from alembic import op

from sikader_shared.migrations import create_infrastructure_v1, drop_infrastructure_v1

revision = "registry_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_infrastructure_v1(op)


def downgrade() -> None:
    drop_infrastructure_v1(op)
