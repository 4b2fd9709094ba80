"""dead letters the DLQ topic would not take are kept in the DLQ log (shared step v2)

Revision ID: certification_0003
Revises: certification_0002
Create Date: 2026-12-06
"""

from alembic import op

from sikader_shared.migrations import create_infrastructure_v2, drop_infrastructure_v2

revision = "certification_0003"
down_revision = "certification_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_infrastructure_v2(op)


def downgrade() -> None:
    drop_infrastructure_v2(op)
