"""periods.needs_recalculation: a live decision changed since the period was calculated

Set by the consumer when a live decision (what IncentiveEligibilityChanged and the eligibility
API say) no longer matches the stored calculation of a calculated period; approval is refused
until the period is calculated again, which clears it.

Revision ID: incentives_0004
Revises: incentives_0003
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "incentives_0004"
down_revision = "incentives_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("periods") as batch:
        batch.add_column(sa.Column("needs_recalculation", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("periods") as batch:
        batch.drop_column("needs_recalculation")
