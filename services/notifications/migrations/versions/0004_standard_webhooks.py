"""Standard Webhooks secrets: `whsec_` secrets, rotation with a grace period, and the
client-chosen secrets of older subscriptions kept for the deprecated X-Sikader-* headers

Every existing secret (chosen by its client) becomes its `whsec_` form (`whsec_` + base64 of
its UTF-8 bytes: the same key) and is also kept as `legacy_secret`, so that the subscription
gets both the Standard Webhooks headers and the old ones until its secret is rotated.

Revision ID: notifications_0004
Revises: notifications_0003
Create Date: 2026-12-06
"""

import base64

import sqlalchemy as sa
from alembic import op

revision = "notifications_0004"
down_revision = "notifications_0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
SUBSCRIPTIONS = sa.table(
    "ntf_subscriptions",
    sa.column("id", sa.String),
    sa.column("secret", sa.String),
    sa.column("legacy_secret", sa.String),
)


def _whsec(client_secret: str) -> str:
    return "whsec_" + base64.b64encode(client_secret.encode("utf-8")).decode("ascii")


def upgrade() -> None:
    with op.batch_alter_table("ntf_subscriptions") as batch:
        batch.alter_column("secret", type_=sa.String(400), existing_type=sa.String(200), existing_nullable=False)
        batch.add_column(sa.Column("previous_secret", sa.String(400), nullable=True))
        batch.add_column(sa.Column("previous_until", TS, nullable=True))
        batch.add_column(sa.Column("legacy_secret", sa.String(400), nullable=True))
        batch.add_column(sa.Column("legacy_until", TS, nullable=True))
    bind = op.get_bind()
    rows = bind.execute(sa.select(SUBSCRIPTIONS.c.id, SUBSCRIPTIONS.c.secret)).all()
    for sub_id, secret in rows:
        whsec = _whsec(secret)
        bind.execute(
            SUBSCRIPTIONS.update().where(SUBSCRIPTIONS.c.id == sub_id).values(secret=whsec, legacy_secret=whsec)
        )


def downgrade() -> None:
    # A subscription made after the upgrade has no client-chosen secret: its `whsec_` key
    # bytes are not text, so the downgrade keeps the whsec_ string (old receivers then fail
    # to verify until a new secret is set).
    bind = op.get_bind()
    rows = bind.execute(sa.select(SUBSCRIPTIONS.c.id, SUBSCRIPTIONS.c.legacy_secret)).all()
    for sub_id, legacy in rows:
        if legacy:
            client = base64.b64decode(legacy[len("whsec_") :]).decode("utf-8")
            bind.execute(SUBSCRIPTIONS.update().where(SUBSCRIPTIONS.c.id == sub_id).values(secret=client))
    with op.batch_alter_table("ntf_subscriptions") as batch:
        batch.drop_column("legacy_until")
        batch.drop_column("legacy_secret")
        batch.drop_column("previous_until")
        batch.drop_column("previous_secret")
        batch.alter_column("secret", type_=sa.String(200), existing_type=sa.String(400), existing_nullable=False)
