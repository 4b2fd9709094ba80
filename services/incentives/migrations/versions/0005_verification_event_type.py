"""posyandu.verification_event_type: which event set the Posyandu's verification state

The period changes report (GET /periods/{period}/changes) names the event behind each
Posyandu whose verification changed between two calculated periods: its id was kept, its type
is kept from now on (null for states set before this revision).

Revision ID: incentives_0005
Revises: incentives_0004
Create Date: 2027-01-10
"""

import sqlalchemy as sa
from alembic import op

revision = "incentives_0005"
down_revision = "incentives_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("posyandu") as batch:
        batch.add_column(sa.Column("verification_event_type", sa.String(length=60), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("posyandu") as batch:
        batch.drop_column("verification_event_type")
