"""certificates.check_code: an unguessable code in the verification URL of new certificates

With it the public verification shows the masked holder; without it (certificate numbers are
sequential) status and level only. Certificates issued before have none.

Revision ID: certification_0004
Revises: certification_0003
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "certification_0004"
down_revision = "certification_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("certificates") as batch:
        batch.add_column(sa.Column("check_code", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("certificates") as batch:
        batch.drop_column("check_code")
