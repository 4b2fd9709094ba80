"""registry tables: Posyandu, facility assessments, verifications, cadres, assignments

Revision ID: registry_0002
Revises: registry_0001
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from sikader_shared.db import BigIntPK

revision = "registry_0002"
down_revision = "registry_0001"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "posyandu",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("name_key", sa.String(100), nullable=False),
        sa.Column("kelurahan_code", sa.String(20), nullable=False),
        sa.Column("kecamatan_code", sa.String(20), nullable=False),
        sa.Column("posyandu_type", sa.String(10), nullable=False),
        sa.Column("address", sa.String(300), nullable=True),
        sa.Column("rt", sa.String(3), nullable=True),
        sa.Column("rw", sa.String(3), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("puskesmas", sa.String(100), nullable=True),
        sa.Column("institution", sa.JSON(), nullable=True),
        sa.Column("management", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("verification_status", sa.String(10), nullable=False),
        sa.Column("facility_status", sa.String(20), nullable=True),
        sa.Column("latest_assessment_id", sa.String(36), nullable=True),
        sa.Column("merged_into_id", sa.String(36), nullable=True),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("closure_reason", sa.String(500), nullable=True),
        _ts("registered_at"),
        _ts("updated_at"),
        sa.UniqueConstraint("kelurahan_code", "name_key", name="uq_posyandu_kelurahan_name"),
    )
    op.create_index("ix_posyandu_area", "posyandu", ["kecamatan_code", "kelurahan_code"])
    op.create_index("ix_posyandu_status", "posyandu", ["status"])

    op.create_table(
        "facility_assessment",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("posyandu_id", sa.String(36), nullable=False),
        sa.Column("facility_status", sa.String(20), nullable=False),
        sa.Column("equipment", sa.JSON(), nullable=False),
        sa.Column("photo_refs", sa.JSON(), nullable=False),
        sa.Column("assessed_by", sa.String(100), nullable=False),
        sa.Column("assessed_on", sa.Date(), nullable=False),
        sa.Column("notes", sa.String(1000), nullable=True),
        sa.Column("recorded_by", sa.String(100), nullable=False),
        _ts("recorded_at"),
    )
    op.create_index("ix_facility_assessment_posyandu_id", "facility_assessment", ["posyandu_id"])

    op.create_table(
        "posyandu_verification",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("posyandu_id", sa.String(36), nullable=False),
        sa.Column("assessment_id", sa.String(36), nullable=True),
        sa.Column("decision", sa.String(10), nullable=False),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("note", sa.String(500), nullable=True),
        sa.Column("decided_by", sa.String(100), nullable=False),
        _ts("decided_at"),
    )
    op.create_index("ix_posyandu_verification_posyandu_id", "posyandu_verification", ["posyandu_id"])

    op.create_table(
        "cadre",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("nik", sa.String(16), nullable=False),
        sa.Column("nik_hash", sa.String(64), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("name_search", sa.String(100), nullable=False),
        sa.Column("sex", sa.String(1), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("phone", sa.String(20), nullable=True),
        sa.Column("email", sa.String(200), nullable=True),
        sa.Column("address", sa.String(300), nullable=True),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("status_reason", sa.String(200), nullable=True),
        sa.Column("status_since", sa.Date(), nullable=True),
        sa.Column("posyandu_id", sa.String(36), nullable=True),
        sa.Column("posyandu_role", sa.String(40), nullable=True),
        sa.Column("kelurahan_code", sa.String(20), nullable=False),
        sa.Column("kecamatan_code", sa.String(20), nullable=False),
        sa.Column("joined_on", sa.Date(), nullable=True),
        sa.Column("payment_method", sa.String(10), nullable=True),
        sa.Column("payment_bank", sa.String(50), nullable=True),
        sa.Column("payment_account_number", sa.String(30), nullable=True),
        sa.Column("payment_account_holder", sa.String(100), nullable=True),
        _ts("registered_at"),
        _ts("updated_at"),
    )
    op.create_index("ix_cadre_nik_hash", "cadre", ["nik_hash"], unique=True)
    op.create_index("ix_cadre_area", "cadre", ["kecamatan_code", "kelurahan_code", "status"])
    op.create_index("ix_cadre_name", "cadre", ["name_search"])
    op.create_index("ix_cadre_posyandu_id", "cadre", ["posyandu_id"])

    op.create_table(
        "cadre_assignment",
        sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
        sa.Column("cadre_id", sa.String(36), nullable=False),
        sa.Column("posyandu_id", sa.String(36), nullable=False),
        sa.Column("posyandu_role", sa.String(40), nullable=True),
        sa.Column("is_primary", sa.Boolean(), nullable=False),
        sa.Column("start_on", sa.Date(), nullable=False),
        sa.Column("end_on", sa.Date(), nullable=True),
        sa.Column("reason", sa.String(200), nullable=True),
        sa.Column("end_reason", sa.String(200), nullable=True),
    )
    op.create_index("ix_assignment_cadre", "cadre_assignment", ["cadre_id", "start_on"])
    op.create_index("ix_cadre_assignment_posyandu_id", "cadre_assignment", ["posyandu_id"])


def downgrade() -> None:
    op.drop_table("cadre_assignment")
    op.drop_table("cadre")
    op.drop_table("posyandu_verification")
    op.drop_table("facility_assessment")
    op.drop_table("posyandu")
