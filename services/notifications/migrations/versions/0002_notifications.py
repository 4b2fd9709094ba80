"""notifications tables: projections (cadres, contacts, Posyandu), opt-outs, received events,
subscriptions, deliveries, broadcasts

Revision ID: notifications_0002
Revises: notifications_0001
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "notifications_0002"
down_revision = "notifications_0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ntf_cadres",
        sa.Column("cadre_id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("posyandu_id", sa.String(36), nullable=True),
        sa.Column("posyandu_role", sa.String(50), nullable=True),
        sa.Column("kelurahan_code", sa.String(20), nullable=True),
        sa.Column("kecamatan_code", sa.String(20), nullable=True),
        sa.Column("version_at", TS, nullable=False),
    )
    op.create_index("ix_ntf_cadres_posyandu_id", "ntf_cadres", ["posyandu_id"])
    op.create_index("ix_ntf_cadres_kelurahan_code", "ntf_cadres", ["kelurahan_code"])
    op.create_index("ix_ntf_cadres_kecamatan_code", "ntf_cadres", ["kecamatan_code"])

    op.create_table(
        "ntf_cadre_contacts",
        sa.Column("cadre_id", sa.String(36), primary_key=True),
        sa.Column("phone_enc", sa.Text(), nullable=True),
        sa.Column("email_enc", sa.Text(), nullable=True),
        sa.Column("changed_at", TS, nullable=False),
    )

    op.create_table(
        "ntf_posyandu",
        sa.Column("posyandu_id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("kelurahan_code", sa.String(20), nullable=True),
        sa.Column("kecamatan_code", sa.String(20), nullable=True),
        sa.Column("puskesmas", sa.String(200), nullable=True),
        sa.Column("head_cadre_id", sa.String(36), nullable=True),
        sa.Column("version_at", TS, nullable=False),
    )

    op.create_table(
        "ntf_opt_outs",
        sa.Column("cadre_id", sa.String(36), primary_key=True),
        sa.Column("channel", sa.String(20), primary_key=True),
        sa.Column("at", TS, nullable=False),
    )

    op.create_table(
        "ntf_received_events",
        sa.Column("seq", BIGID, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(100), nullable=False, unique=True),
        sa.Column("ce_type", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("time", TS, nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("kecamatan_code", sa.String(20), nullable=True),
        sa.Column("kelurahan_code", sa.String(20), nullable=True),
        sa.Column("received_at", TS, nullable=False),
    )
    op.create_index("ix_ntf_received_events_ce_type", "ntf_received_events", ["ce_type"])
    op.create_index("ix_ntf_received_events_time", "ntf_received_events", ["time"])

    op.create_table(
        "ntf_subscriptions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("client_id", sa.String(100), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("secret", sa.String(200), nullable=False),
        sa.Column("description", sa.String(500), nullable=True),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("kecamatan_codes", sa.JSON(), nullable=False),
        sa.Column("kelurahan_codes", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_ntf_subscriptions_client_id", "ntf_subscriptions", ["client_id"])

    op.create_table(
        "ntf_deliveries",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("notification_id", sa.String(36), nullable=False, unique=True),
        sa.Column("source_key", sa.String(100), nullable=False),
        sa.Column("recipient_type", sa.String(30), nullable=False),
        sa.Column("recipient_id", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("replay_id", sa.String(36), nullable=False),
        sa.Column("source_event_id", sa.String(100), nullable=True),
        sa.Column("source_event_type", sa.String(200), nullable=True),
        sa.Column("subscription_id", sa.String(36), nullable=True),
        sa.Column("broadcast_id", sa.String(36), nullable=True),
        sa.Column("template", sa.String(100), nullable=True),
        sa.Column("language", sa.String(5), nullable=False),
        sa.Column("lane", sa.String(300), nullable=False),
        sa.Column("aggregate_key", sa.String(200), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("last_attempt_at", TS, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("delivered_at", TS, nullable=True),
        sa.Column("failed_at", TS, nullable=True),
        sa.UniqueConstraint(
            "source_key", "recipient_type", "recipient_id", "channel", "replay_id", name="uq_delivery_target"
        ),
    )
    op.create_index("ix_ntf_deliveries_due", "ntf_deliveries", ["status", "next_attempt_at"])
    op.create_index("ix_ntf_deliveries_lane", "ntf_deliveries", ["lane", "aggregate_key", "status", "seq"])
    op.create_index("ix_ntf_deliveries_source_event_id", "ntf_deliveries", ["source_event_id"])
    op.create_index("ix_ntf_deliveries_subscription_id", "ntf_deliveries", ["subscription_id"])
    op.create_index("ix_ntf_deliveries_broadcast_id", "ntf_deliveries", ["broadcast_id"])

    op.create_table(
        "ntf_broadcasts",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("client_id", sa.String(100), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("kecamatan_codes", sa.JSON(), nullable=False),
        sa.Column("kelurahan_codes", sa.JSON(), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("rate_per_minute", sa.Integer(), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("tally", sa.JSON(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("completed_at", TS, nullable=True),
    )
    op.create_index("ix_ntf_broadcasts_client_id", "ntf_broadcasts", ["client_id"])


def downgrade() -> None:
    for table in (
        "ntf_broadcasts",
        "ntf_deliveries",
        "ntf_subscriptions",
        "ntf_received_events",
        "ntf_opt_outs",
        "ntf_posyandu",
        "ntf_cadre_contacts",
        "ntf_cadres",
    ):
        op.drop_table(table)
