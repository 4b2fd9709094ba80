"""The registry's own tables (beside the shared infrastructure tables). Personal data
(NIK, contact, payment details) lives only here, in the service that owns it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, UniqueConstraint
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from sikader_shared.db import BigIntPK, Timestamp


class RegistryTable(SQLModel, registry=registry()):
    """Base of this service's tables, with its own MetaData: other services have tables of
    the same names and tests import all services into one process."""


class PosyanduRow(RegistryTable, table=True):
    __tablename__ = "posyandu"
    __table_args__ = (
        UniqueConstraint("kelurahan_code", "name_key", name="uq_posyandu_kelurahan_name"),
        Index("ix_posyandu_area", "kecamatan_code", "kelurahan_code"),
    )

    id: str = Field(primary_key=True, max_length=36)
    name: str = Field(max_length=100)
    name_key: str = Field(max_length=100)  # normalised name: one Posyandu per name and kelurahan
    kelurahan_code: str = Field(max_length=20)
    kecamatan_code: str = Field(max_length=20)
    posyandu_type: str = Field(max_length=10)
    address: str | None = Field(default=None, max_length=300)
    rt: str | None = Field(default=None, max_length=3)
    rw: str | None = Field(default=None, max_length=3)
    latitude: float | None = None
    longitude: float | None = None
    puskesmas: str | None = Field(default=None, max_length=100)
    institution: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    management: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="active", max_length=10, index=True)
    verification_status: str = Field(default="PENDING", max_length=10)
    facility_status: str | None = Field(default=None, max_length=20)
    latest_assessment_id: str | None = Field(default=None, max_length=36)
    merged_into_id: str | None = Field(default=None, max_length=36)
    closed_on: date | None = None
    closure_reason: str | None = Field(default=None, max_length=500)
    registered_at: datetime = Timestamp()
    updated_at: datetime = Timestamp()


class FacilityAssessmentRow(RegistryTable, table=True):
    __tablename__ = "facility_assessment"

    id: str = Field(primary_key=True, max_length=36)
    posyandu_id: str = Field(max_length=36, index=True)
    facility_status: str = Field(max_length=20)
    equipment: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    photo_refs: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    assessed_by: str = Field(max_length=100)
    assessed_on: date
    notes: str | None = Field(default=None, max_length=1000)
    recorded_by: str = Field(max_length=100)
    recorded_at: datetime = Timestamp()


class VerificationRow(RegistryTable, table=True):
    __tablename__ = "posyandu_verification"

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    posyandu_id: str = Field(max_length=36, index=True)
    assessment_id: str | None = Field(default=None, max_length=36)
    decision: str = Field(max_length=10)
    reason: str | None = Field(default=None, max_length=500)
    note: str | None = Field(default=None, max_length=500)
    decided_by: str = Field(max_length=100)
    decided_at: datetime = Timestamp()


class CadreRow(RegistryTable, table=True):
    __tablename__ = "cadre"
    __table_args__ = (
        Index("ix_cadre_area", "kecamatan_code", "kelurahan_code", "status"),
        Index("ix_cadre_name", "name_search"),
    )

    id: str = Field(primary_key=True, max_length=36)
    nik: str = Field(max_length=16)
    nik_hash: str = Field(max_length=64, unique=True)  # lookup and uniqueness without indexing the NIK
    name: str = Field(max_length=100)
    name_search: str = Field(max_length=100)  # lower-case name for search
    sex: str = Field(max_length=1)
    birth_date: date
    phone: str | None = Field(default=None, max_length=20)
    email: str | None = Field(default=None, max_length=200)
    address: str | None = Field(default=None, max_length=300)
    roles: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="active", max_length=10)
    status_reason: str | None = Field(default=None, max_length=200)
    status_since: date | None = None
    posyandu_id: str | None = Field(default=None, max_length=36, index=True)
    posyandu_role: str | None = Field(default=None, max_length=40)
    kelurahan_code: str = Field(max_length=20)
    kecamatan_code: str = Field(max_length=20)
    joined_on: date | None = None
    payment_method: str | None = Field(default=None, max_length=10)
    payment_bank: str | None = Field(default=None, max_length=50)
    payment_account_number: str | None = Field(default=None, max_length=30)
    payment_account_holder: str | None = Field(default=None, max_length=100)
    registered_at: datetime = Timestamp()
    updated_at: datetime = Timestamp()


class AssignmentRow(RegistryTable, table=True):
    """History of a cadre's Posyandu assignments: turnover closes a row, never rewrites it."""

    __tablename__ = "cadre_assignment"
    __table_args__ = (Index("ix_assignment_cadre", "cadre_id", "start_on"),)

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    cadre_id: str = Field(max_length=36)
    posyandu_id: str = Field(max_length=36, index=True)
    posyandu_role: str | None = Field(default=None, max_length=40)
    is_primary: bool = True
    start_on: date
    end_on: date | None = None
    reason: str | None = Field(default=None, max_length=200)
    end_reason: str | None = Field(default=None, max_length=200)


class ImportJobRow(RegistryTable, table=True):
    """An asynchronous import: the uploaded file, its progress and its report. Each chunk's
    rows, events and audit entries commit with the job's progress, so a restart resumes after
    the last committed chunk."""

    __tablename__ = "import_job"
    __table_args__ = (
        Index("ix_import_job_client", "client_id", "created_at"),
        Index("ix_import_job_status", "status", "created_at"),
    )

    id: str = Field(primary_key=True, max_length=36)
    kind: str = Field(max_length=10)  # cadres / posyandu
    client_id: str = Field(max_length=100)  # the OPD client that uploaded it
    key_id: str | None = Field(default=None, max_length=64)  # and its key: the audit names it
    status: str = Field(default="queued", max_length=10)  # queued / running / done / failed
    rows_total: int = 0
    rows_done: int = 0
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # emptied when finished
    sha256: str = Field(max_length=64)
    report: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    reason: str | None = Field(default=None, max_length=500)
    correlation_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = Timestamp()
    started_at: datetime | None = Timestamp(nullable=True)
    finished_at: datetime | None = Timestamp(nullable=True)
