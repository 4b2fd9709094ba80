"""Pending deliveries in lane order: a webhook lane's claim walks (lane, seq, id) over the
pending rows and stops at its limit, and the worker's tick walks (seq, id), instead of
checking every pending row and sorting them (tens of ms a claim with 10,000 pending, and
far more with the statistics of a table that filled up since its last ANALYZE).

Revision ID: notifications_0005
Revises: notifications_0004
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "notifications_0005"
down_revision = "notifications_0004"
branch_labels = None
depends_on = None

PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    op.create_index(
        "ix_ntf_deliveries_pending_lane",
        "ntf_deliveries",
        ["lane", "seq", "id"],
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )
    op.create_index(
        "ix_ntf_deliveries_pending_seq",
        "ntf_deliveries",
        ["seq", "id"],
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )


def downgrade() -> None:
    op.drop_index("ix_ntf_deliveries_pending_seq", table_name="ntf_deliveries")
    op.drop_index("ix_ntf_deliveries_pending_lane", table_name="ntf_deliveries")
