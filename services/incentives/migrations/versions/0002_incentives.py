"""incentives: policy versions, projections fed by events, live eligibility, periods,
decisions, adjustments, payments and payment files

Revision ID: incentives_0002
Revises: incentives_0001
Create Date: 2026-11-30
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "incentives_0002"
down_revision = "incentives_0001"
branch_labels = None
depends_on = None

# The seeded first policy version: defaults for the city to configure (a new version
# replaces it from a period; this row is never edited).
DEFAULT_POLICY = {
    "version": "v1",
    "sequence": 1,
    "effective_from": "2000-01",
    "amounts": {"Purwa": 250000, "Madya": 350000, "Utama": 500000},
    "requirements": ["cadre_active", "certificate_valid", "posyandu_verified", "posyandu_open"],
    "cap_per_posyandu": 5,
    "budget_ceiling": None,
    "note": "Default amounts (Purwa 250,000; Madya 350,000; Utama 500,000 rupiah), cap 5 per Posyandu, "
    "no budget ceiling: defaults to configure with a new policy version.",
    "created_by": "system",
}

C_COLLATED = {
    "cadres": [("cadre_id", 36), ("posyandu_id", 36), ("kelurahan_code", 20), ("kecamatan_code", 20)],
    "posyandu": [("posyandu_id", 36), ("kelurahan_code", 20), ("kecamatan_code", 20)],
    "certificates": [("certificate_id", 36), ("cadre_id", 36)],
    "decisions": [
        ("cadre_id", 36),
        ("posyandu_id", 36),
        ("kelurahan_code", 20),
        ("kecamatan_code", 20),
        ("certificate_id", 36),
    ],
    "live_eligibility": [("cadre_id", 36)],
    "adjustments": [("cadre_id", 36)],
    "payments": [("cadre_id", 36)],
}


def upgrade() -> None:
    op.create_table(
        "adjustments",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("in_period", sa.String(length=7), nullable=False),
        sa.Column("for_period", sa.String(length=7), nullable=False),
        sa.Column("cadre_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("delta", sa.BigInteger(), nullable=False),
        sa.Column("previous_amount", sa.BigInteger(), nullable=False),
        sa.Column("new_amount", sa.BigInteger(), nullable=False),
        sa.Column("previous_mask", sa.Integer(), nullable=True),
        sa.Column("new_mask", sa.Integer(), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_adjustments_for_period"), "adjustments", ["for_period"], unique=False)
    op.create_index("ix_adjustments_in_period", "adjustments", ["in_period", "cadre_id"], unique=False)
    op.create_table(
        "cadres",
        sa.Column("cadre_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kelurahan_code", sa.String(length=20), nullable=False),
        sa.Column("kecamatan_code", sa.String(length=20), nullable=False),
        sa.Column("posyandu_id", sa.String(length=36), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("registered_on", sa.Date(), nullable=True),
        sa.Column("joined_on", sa.Date(), nullable=True),
        sa.Column("deactivated_on", sa.Date(), nullable=True),
        sa.Column("reactivated_on", sa.Date(), nullable=True),
        sa.Column("status_event_id", sa.String(length=100), nullable=True),
        sa.Column("status_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("assignment_event_id", sa.String(length=100), nullable=True),
        sa.Column("assignment_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("cadre_id"),
    )
    op.create_index(op.f("ix_cadres_kelurahan_code"), "cadres", ["kelurahan_code"], unique=False)
    op.create_index(op.f("ix_cadres_posyandu_id"), "cadres", ["posyandu_id"], unique=False)
    op.create_table(
        "certificates",
        sa.Column("certificate_id", sa.String(length=36), nullable=False),
        sa.Column("cadre_id", sa.String(length=36), nullable=False),
        sa.Column("certificate_number", sa.String(length=100), nullable=False),
        sa.Column("level", sa.String(length=10), nullable=False),
        sa.Column("level_rank", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("status_on", sa.Date(), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("issued_on", sa.Date(), nullable=True),
        sa.Column("event_id", sa.String(length=100), nullable=True),
        sa.Column("event_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("certificate_id"),
    )
    op.create_index(op.f("ix_certificates_cadre_id"), "certificates", ["cadre_id"], unique=False)
    op.create_table(
        "decisions",
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("cadre_id", sa.String(length=36), nullable=False),
        sa.Column("posyandu_id", sa.String(length=36), nullable=True),
        sa.Column("kelurahan_code", sa.String(length=20), nullable=False),
        sa.Column("kecamatan_code", sa.String(length=20), nullable=False),
        sa.Column("cadre_status", sa.String(length=10), nullable=False),
        sa.Column("deactivated_on", sa.Date(), nullable=True),
        sa.Column("reactivated_on", sa.Date(), nullable=True),
        sa.Column("cadre_event_id", sa.String(length=100), nullable=True),
        sa.Column("assignment_event_id", sa.String(length=100), nullable=True),
        sa.Column("certificate_id", sa.String(length=36), nullable=True),
        sa.Column("certificate_number", sa.String(length=100), nullable=True),
        sa.Column("level", sa.String(length=10), nullable=True),
        sa.Column("certificate_status", sa.String(length=12), nullable=True),
        sa.Column("certificate_status_on", sa.Date(), nullable=True),
        sa.Column("certificate_valid_from", sa.Date(), nullable=True),
        sa.Column("certificate_expires_on", sa.Date(), nullable=True),
        sa.Column("certificate_event_id", sa.String(length=100), nullable=True),
        sa.Column("posyandu_name", sa.String(length=200), nullable=True),
        sa.Column("verification_status", sa.String(length=10), nullable=True),
        sa.Column("verification_on", sa.Date(), nullable=True),
        sa.Column("verification_event_id", sa.String(length=100), nullable=True),
        sa.Column("posyandu_status", sa.String(length=10), nullable=True),
        sa.Column("posyandu_closed_on", sa.Date(), nullable=True),
        sa.Column("posyandu_event_id", sa.String(length=100), nullable=True),
        sa.Column("failed_mask", sa.Integer(), nullable=False),
        sa.Column("posyandu_rank", sa.Integer(), nullable=True),
        sa.Column("eligible", sa.Boolean(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("period", "cadre_id"),
    )
    op.create_table(
        "live_eligibility",
        sa.Column("cadre_id", sa.String(length=36), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("eligible", sa.Boolean(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("policy_version", sa.String(length=20), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_id", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("cadre_id"),
    )
    op.create_table(
        "payment_attempts",
        sa.Column("reference", sa.String(length=40), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("cadre_id", sa.String(length=36), nullable=False),
        sa.Column("cadre_name", sa.String(length=200), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=True),
        sa.Column("bank_enc", sa.Text(), nullable=True),
        sa.Column("account_number_enc", sa.Text(), nullable=True),
        sa.Column("account_holder_enc", sa.Text(), nullable=True),
        sa.Column("result", sa.String(length=10), nullable=True),
        sa.Column("failure_reason", sa.String(length=500), nullable=True),
        sa.Column("paid_on", sa.Date(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("reference"),
    )
    op.create_index(op.f("ix_payment_attempts_batch_id"), "payment_attempts", ["batch_id"], unique=False)
    op.create_table(
        "payment_batches",
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("total_amount", sa.BigInteger(), nullable=False),
        sa.Column("without_details", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("batch_id"),
    )
    op.create_index(op.f("ix_payment_batches_period"), "payment_batches", ["period"], unique=False)
    op.create_table(
        "payment_details",
        sa.Column("cadre_id", sa.String(length=36), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=True),
        sa.Column("bank_enc", sa.Text(), nullable=True),
        sa.Column("account_number_enc", sa.Text(), nullable=True),
        sa.Column("account_holder_enc", sa.Text(), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_id", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("cadre_id"),
    )
    op.create_table(
        "payments",
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("cadre_id", sa.String(length=36), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=True),
        sa.Column("reference", sa.String(length=40), nullable=True),
        sa.Column("failure_reason", sa.String(length=500), nullable=True),
        sa.Column("paid_on", sa.Date(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("carried_to", sa.String(length=7), nullable=True),
        sa.PrimaryKeyConstraint("period", "cadre_id"),
    )
    op.create_index("ix_payments_period_status", "payments", ["period", "status"], unique=False)
    op.create_table(
        "periods",
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("policy_version", sa.String(length=20), nullable=True),
        sa.Column("decision_hash", sa.String(length=64), nullable=True),
        sa.Column("cadres_evaluated", sa.Integer(), nullable=False),
        sa.Column("eligible_cadres", sa.Integer(), nullable=False),
        sa.Column("total_amount", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("budget_ceiling", sa.BigInteger(), nullable=True),
        sa.Column("corrections", sa.Integer(), nullable=False),
        sa.Column("calculation_count", sa.Integer(), nullable=False),
        sa.Column("calculated_by_client", sa.String(length=100), nullable=True),
        sa.Column("calculated_by_key", sa.String(length=64), nullable=True),
        sa.Column("calculated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approved_by_client", sa.String(length=100), nullable=True),
        sa.Column("approved_by_key", sa.String(length=64), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by_client", sa.String(length=100), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("period"),
    )
    op.create_table(
        "policy_versions",
        sa.Column("version", sa.String(length=20), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.String(length=7), nullable=False),
        sa.Column("amounts", sa.JSON(), nullable=False),
        sa.Column("requirements", sa.JSON(), nullable=False),
        sa.Column("cap_per_posyandu", sa.Integer(), nullable=True),
        sa.Column("budget_ceiling", sa.BigInteger(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("version"),
        sa.UniqueConstraint("sequence"),
    )
    op.create_index(op.f("ix_policy_versions_effective_from"), "policy_versions", ["effective_from"], unique=False)
    op.create_table(
        "posyandu",
        sa.Column("posyandu_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kelurahan_code", sa.String(length=20), nullable=False),
        sa.Column("kecamatan_code", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("verification_status", sa.String(length=10), nullable=False),
        sa.Column("verification_on", sa.Date(), nullable=True),
        sa.Column("verification_event_id", sa.String(length=100), nullable=True),
        sa.Column("verification_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status_event_id", sa.String(length=100), nullable=True),
        sa.Column("status_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("posyandu_id"),
    )
    op.create_index(op.f("ix_posyandu_kelurahan_code"), "posyandu", ["kelurahan_code"], unique=False)
    op.create_table(
        "staged_inputs",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=100), nullable=False),
        sa.Column("ce_type", sa.String(length=200), nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("correlation_id", sa.String(length=100), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )

    if op.get_bind().dialect.name == "postgresql":
        # Ids and area codes compare byte-wise: fast sorts for the set-based calculation, and
        # the same order as Python's (the decision-set hash is over cadre ids in that order).
        for table, columns in C_COLLATED.items():
            for column, length in columns:
                op.execute(f'ALTER TABLE {table} ALTER COLUMN {column} TYPE varchar({length}) COLLATE "C"')

    policies = sa.table(
        "policy_versions",
        sa.column("version", sa.String),
        sa.column("sequence", sa.Integer),
        sa.column("effective_from", sa.String),
        sa.column("amounts", sa.JSON),
        sa.column("requirements", sa.JSON),
        sa.column("cap_per_posyandu", sa.Integer),
        sa.column("budget_ceiling", sa.BigInteger),
        sa.column("note", sa.Text),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("created_by", sa.String),
    )
    op.bulk_insert(policies, [{**DEFAULT_POLICY, "created_at": datetime(2026, 11, 30, tzinfo=UTC)}])


def downgrade() -> None:
    op.drop_table("staged_inputs")
    op.drop_table("posyandu")
    op.drop_table("policy_versions")
    op.drop_table("periods")
    op.drop_table("payments")
    op.drop_table("payment_details")
    op.drop_table("payment_batches")
    op.drop_table("payment_attempts")
    op.drop_table("live_eligibility")
    op.drop_table("decisions")
    op.drop_table("certificates")
    op.drop_table("cadres")
    op.drop_table("adjustments")
