"""The certification service's own tables (migration certification_0002)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Column, Index
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from sikader_shared.db import Timestamp


class CertificationTable(SQLModel, registry=registry()):
    """Base of this service's tables, with its own MetaData: other services have tables of
    the same names (a `cadres` projection) and tests import all services into one process."""


class CadreRow(CertificationTable, table=True):
    """Local projection of a cadre from sikader.registry.cadre.v1 (never asked of the
    registry). `name` is None until a snapshot event (Registered/Updated) was seen."""

    __tablename__ = "cadres"

    cadre_id: str = Field(primary_key=True, max_length=64)
    name: str | None = Field(default=None, max_length=200)
    status: str | None = Field(default=None, max_length=20)
    kelurahan_code: str | None = Field(default=None, max_length=20)
    kecamatan_code: str | None = Field(default=None, max_length=20)
    posyandu_id: str | None = Field(default=None, max_length=64)
    # ce_time of the newest event applied per facet (older re-published events are ignored)
    snapshot_at: datetime | None = Timestamp(nullable=True)
    status_at: datetime | None = Timestamp(nullable=True)
    assigned_at: datetime | None = Timestamp(nullable=True)
    updated_at: datetime = Timestamp()


class TrainingRow(CertificationTable, table=True):
    __tablename__ = "trainings"

    training_id: str = Field(primary_key=True, max_length=36)
    title: str = Field(max_length=200)
    organiser: str = Field(max_length=100)
    skill_codes: list[str] = Field(sa_column=Column(JSON, nullable=False))
    started_on: date
    ends_on: date
    place: str | None = Field(default=None, max_length=200)
    refresher: bool = False
    status: str = Field(max_length=20)  # scheduled | completed
    completed_on: date | None = None
    created_by: str = Field(max_length=100)
    created_at: datetime = Timestamp()


class TrainingParticipantRow(CertificationTable, table=True):
    __tablename__ = "training_participants"

    training_id: str = Field(primary_key=True, max_length=36)
    cadre_id: str = Field(primary_key=True, max_length=64, index=True)
    attended: bool | None = None  # None until the training is completed


class AssessmentRow(CertificationTable, table=True):
    __tablename__ = "skill_assessments"

    assessment_id: str = Field(primary_key=True, max_length=36)
    cadre_id: str = Field(max_length=64, index=True)
    skill_code: str = Field(max_length=20)
    skill_group: str = Field(max_length=20)
    catalogue_version: str = Field(max_length=20)
    passed: bool
    assessor: str = Field(max_length=200)
    assessed_on: date
    notes: str | None = Field(default=None, max_length=1000)
    recorded_by: str = Field(max_length=100)
    recorded_at: datetime = Timestamp()


class BadgeRow(CertificationTable, table=True):
    """A skill badge (tanda kecakapan): the cadre passed the skill at least once."""

    __tablename__ = "skill_badges"

    cadre_id: str = Field(primary_key=True, max_length=64)
    skill_code: str = Field(primary_key=True, max_length=20)
    badge_id: str = Field(max_length=36, unique=True)
    skill_group: str = Field(max_length=20)
    assessment_id: str = Field(max_length=36)
    awarded_on: date
    last_passed_on: date


class CertificateRow(CertificationTable, table=True):
    __tablename__ = "certificates"
    __table_args__ = (
        Index("ix_certificates_cadre", "cadre_id"),
        Index("ix_certificates_status_expiry", "status", "expires_on"),
    )

    certificate_id: str = Field(primary_key=True, max_length=36)
    number: str = Field(max_length=64, unique=True)
    cadre_id: str = Field(max_length=64)
    level: str = Field(max_length=10)
    skill_codes: list[str] = Field(sa_column=Column(JSON, nullable=False))
    issued_on: date
    expires_on: date
    issuer: str = Field(max_length=200)
    status: str = Field(max_length=20)
    status_reason: str | None = Field(default=None, max_length=500)
    level_policy_version: str = Field(max_length=50)
    holder_name: str = Field(max_length=200)
    # An unguessable code in the verification URL (the QR code): with it the public answer
    # shows the masked holder; without it (numbers are sequential) status and level only.
    check_code: str | None = Field(default=None, max_length=32)
    supersedes_certificate_id: str | None = Field(default=None, max_length=36)
    superseded_by_certificate_id: str | None = Field(default=None, max_length=36)
    expiring_announced_for: date | None = None
    revoked_by: str | None = Field(default=None, max_length=100)
    revoked_at: datetime | None = Timestamp(nullable=True)
    created_at: datetime = Timestamp()
    updated_at: datetime = Timestamp()


class NumberSequenceRow(CertificationTable, table=True):
    """Yearly sequence behind certificate numbers."""

    __tablename__ = "certificate_number_sequences"

    scope: str = Field(primary_key=True, max_length=50)
    last: int
