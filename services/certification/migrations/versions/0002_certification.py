"""certification tables: cadre projection, trainings, assessments, badges, certificates

Revision ID: certification_0002
Revises: certification_0001
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "certification_0002"
down_revision = "certification_0001"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "cadres",
        sa.Column("cadre_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("status", sa.String(20), nullable=True),
        sa.Column("kelurahan_code", sa.String(20), nullable=True),
        sa.Column("kecamatan_code", sa.String(20), nullable=True),
        sa.Column("posyandu_id", sa.String(64), nullable=True),
        _ts("snapshot_at", True),
        _ts("status_at", True),
        _ts("assigned_at", True),
        _ts("updated_at"),
    )
    op.create_table(
        "trainings",
        sa.Column("training_id", sa.String(36), primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("organiser", sa.String(100), nullable=False),
        sa.Column("skill_codes", sa.JSON(), nullable=False),
        sa.Column("started_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("place", sa.String(200), nullable=True),
        sa.Column("refresher", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("completed_on", sa.Date(), nullable=True),
        sa.Column("created_by", sa.String(100), nullable=False),
        _ts("created_at"),
    )
    op.create_table(
        "training_participants",
        sa.Column("training_id", sa.String(36), primary_key=True),
        sa.Column("cadre_id", sa.String(64), primary_key=True),
        sa.Column("attended", sa.Boolean(), nullable=True),
    )
    op.create_index("ix_training_participants_cadre_id", "training_participants", ["cadre_id"])
    op.create_table(
        "skill_assessments",
        sa.Column("assessment_id", sa.String(36), primary_key=True),
        sa.Column("cadre_id", sa.String(64), nullable=False),
        sa.Column("skill_code", sa.String(20), nullable=False),
        sa.Column("skill_group", sa.String(20), nullable=False),
        sa.Column("catalogue_version", sa.String(20), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("assessor", sa.String(200), nullable=False),
        sa.Column("assessed_on", sa.Date(), nullable=False),
        sa.Column("notes", sa.String(1000), nullable=True),
        sa.Column("recorded_by", sa.String(100), nullable=False),
        _ts("recorded_at"),
    )
    op.create_index("ix_skill_assessments_cadre_id", "skill_assessments", ["cadre_id"])
    op.create_table(
        "skill_badges",
        sa.Column("cadre_id", sa.String(64), primary_key=True),
        sa.Column("skill_code", sa.String(20), primary_key=True),
        sa.Column("badge_id", sa.String(36), nullable=False, unique=True),
        sa.Column("skill_group", sa.String(20), nullable=False),
        sa.Column("assessment_id", sa.String(36), nullable=False),
        sa.Column("awarded_on", sa.Date(), nullable=False),
        sa.Column("last_passed_on", sa.Date(), nullable=False),
    )
    op.create_table(
        "certificates",
        sa.Column("certificate_id", sa.String(36), primary_key=True),
        sa.Column("number", sa.String(64), nullable=False, unique=True),
        sa.Column("cadre_id", sa.String(64), nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("skill_codes", sa.JSON(), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("issuer", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("status_reason", sa.String(500), nullable=True),
        sa.Column("level_policy_version", sa.String(50), nullable=False),
        sa.Column("holder_name", sa.String(200), nullable=False),
        sa.Column("supersedes_certificate_id", sa.String(36), nullable=True),
        sa.Column("superseded_by_certificate_id", sa.String(36), nullable=True),
        sa.Column("expiring_announced_for", sa.Date(), nullable=True),
        sa.Column("revoked_by", sa.String(100), nullable=True),
        _ts("revoked_at", True),
        _ts("created_at"),
        _ts("updated_at"),
    )
    op.create_index("ix_certificates_cadre", "certificates", ["cadre_id"])
    op.create_index("ix_certificates_status_expiry", "certificates", ["status", "expires_on"])
    op.create_table(
        "certificate_number_sequences",
        sa.Column("scope", sa.String(50), primary_key=True),
        sa.Column("last", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("certificate_number_sequences")
    op.drop_index("ix_certificates_status_expiry", table_name="certificates")
    op.drop_index("ix_certificates_cadre", table_name="certificates")
    op.drop_table("certificates")
    op.drop_table("skill_badges")
    op.drop_index("ix_skill_assessments_cadre_id", table_name="skill_assessments")
    op.drop_table("skill_assessments")
    op.drop_index("ix_training_participants_cadre_id", table_name="training_participants")
    op.drop_table("training_participants")
    op.drop_table("trainings")
    op.drop_table("cadres")
