"""The incentives service's own tables (beside the shared infrastructure tables).

Projections (cadres, posyandu, certificates, payment_details) are fed only by events (applied
by the consumer; staged_inputs holds internal recompute requests). Decisions of a calculated
period are a snapshot of the facts they used."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Column, Index, Text, text
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from sikader_shared.db import BigIntPK, Timestamp


class IncentivesTable(SQLModel, registry=registry()):
    """Base of this service's tables, with its own MetaData: other services have tables of
    the same names (a `cadres` projection) and tests import all services into one process."""


class PolicyVersionRow(IncentivesTable, table=True):
    __tablename__ = "policy_versions"

    version: str = Field(primary_key=True, max_length=20)
    sequence: int = Field(unique=True)
    effective_from: str = Field(max_length=7, index=True)
    amounts: dict[str, int] = Field(sa_column=Column(JSON, nullable=False))
    requirements: list[str] = Field(sa_column=Column(JSON, nullable=False))
    cap_per_posyandu: int | None = None
    budget_ceiling: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    note: str = Field(default="", sa_column=Column(Text, nullable=False))
    created_at: datetime = Timestamp()
    created_by: str = Field(max_length=100)


class StagedInputRow(IncentivesTable, table=True):
    """An internal recompute request (or an input event staged by an earlier version of the
    service) waiting for the projector."""

    __tablename__ = "staged_inputs"

    seq: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    event_id: str = Field(max_length=100)
    ce_type: str = Field(max_length=200)
    event_time: datetime = Timestamp()
    correlation_id: str | None = Field(default=None, max_length=100)
    actor: str = Field(default="system", max_length=100)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class CadreRow(IncentivesTable, table=True):
    __tablename__ = "cadres"

    cadre_id: str = Field(primary_key=True, max_length=36)
    name: str = Field(default="", max_length=200)
    kelurahan_code: str = Field(default="", max_length=20, index=True)
    kecamatan_code: str = Field(default="", max_length=20)
    posyandu_id: str | None = Field(default=None, max_length=36, index=True)
    status: str = Field(default="active", max_length=10)
    registered_on: date | None = None
    joined_on: date | None = None
    deactivated_on: date | None = None
    reactivated_on: date | None = None
    status_event_id: str | None = Field(default=None, max_length=100)
    status_at: datetime | None = Timestamp(nullable=True)
    assignment_event_id: str | None = Field(default=None, max_length=100)
    assignment_at: datetime | None = Timestamp(nullable=True)


class PosyanduRow(IncentivesTable, table=True):
    __tablename__ = "posyandu"

    posyandu_id: str = Field(primary_key=True, max_length=36)
    name: str = Field(default="", max_length=200)
    kelurahan_code: str = Field(default="", max_length=20, index=True)
    kecamatan_code: str = Field(default="", max_length=20)
    status: str = Field(default="active", max_length=10)
    closed_on: date | None = None
    verification_status: str = Field(default="PENDING", max_length=10)
    verification_on: date | None = None
    verification_event_id: str | None = Field(default=None, max_length=100)
    verification_at: datetime | None = Timestamp(nullable=True)
    status_event_id: str | None = Field(default=None, max_length=100)
    status_at: datetime | None = Timestamp(nullable=True)
    verification_event_type: str | None = Field(default=None, max_length=60)


class CertificateRow(IncentivesTable, table=True):
    __tablename__ = "certificates"

    certificate_id: str = Field(primary_key=True, max_length=36)
    cadre_id: str = Field(max_length=36, index=True)
    certificate_number: str = Field(max_length=100)
    level: str = Field(max_length=10)
    level_rank: int
    status: str = Field(max_length=12)
    expires_on: date
    status_on: date | None = None
    valid_from: date | None = None
    issued_on: date | None = None
    event_id: str | None = Field(default=None, max_length=100)
    event_at: datetime | None = Timestamp(nullable=True)


class PaymentDetailsRow(IncentivesTable, table=True):
    """Encrypted as received from the private topic; decrypted only to write a payment file."""

    __tablename__ = "payment_details"

    cadre_id: str = Field(primary_key=True, max_length=36)
    method: str | None = Field(default=None, max_length=10)
    bank_enc: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    account_number_enc: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    account_holder_enc: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    changed_at: datetime = Timestamp()
    event_id: str = Field(max_length=100)


class LiveEligibilityRow(IncentivesTable, table=True):
    """The latest reactive decision per cadre (for the open period): what was last announced."""

    __tablename__ = "live_eligibility"

    cadre_id: str = Field(primary_key=True, max_length=36)
    period: str = Field(max_length=7)
    eligible: bool
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    policy_version: str = Field(max_length=20)
    decided_at: datetime = Timestamp()
    event_id: str | None = Field(default=None, max_length=100)


class PeriodRow(IncentivesTable, table=True):
    __tablename__ = "periods"

    period: str = Field(primary_key=True, max_length=7)
    state: str = Field(max_length=12)
    policy_version: str | None = Field(default=None, max_length=20)
    decision_hash: str | None = Field(default=None, max_length=64)
    cadres_evaluated: int = 0
    eligible_cadres: int = 0
    total_amount: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    budget_ceiling: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    corrections: int = 0
    # Set when a live decision (what events and the eligibility API say) stops matching the
    # stored calculation: approval is refused until the period is calculated again.
    needs_recalculation: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=text("false"))
    )
    calculation_count: int = 0
    calculated_by_client: str | None = Field(default=None, max_length=100)
    calculated_by_key: str | None = Field(default=None, max_length=64)
    calculated_at: datetime | None = Timestamp(nullable=True)
    approved_by_client: str | None = Field(default=None, max_length=100)
    approved_by_key: str | None = Field(default=None, max_length=64)
    approved_at: datetime | None = Timestamp(nullable=True)
    paid_at: datetime | None = Timestamp(nullable=True)
    closed_by_client: str | None = Field(default=None, max_length=100)
    closed_at: datetime | None = Timestamp(nullable=True)


class DecisionRow(IncentivesTable, table=True):
    __tablename__ = "decisions"

    period: str = Field(primary_key=True, max_length=7)
    cadre_id: str = Field(primary_key=True, max_length=36)
    posyandu_id: str | None = Field(default=None, max_length=36)
    kelurahan_code: str = Field(max_length=20)
    kecamatan_code: str = Field(max_length=20)
    cadre_status: str = Field(max_length=10)
    deactivated_on: date | None = None
    reactivated_on: date | None = None
    cadre_event_id: str | None = Field(default=None, max_length=100)
    assignment_event_id: str | None = Field(default=None, max_length=100)
    certificate_id: str | None = Field(default=None, max_length=36)
    certificate_number: str | None = Field(default=None, max_length=100)
    level: str | None = Field(default=None, max_length=10)
    certificate_status: str | None = Field(default=None, max_length=12)
    certificate_status_on: date | None = None
    certificate_valid_from: date | None = None
    certificate_expires_on: date | None = None
    certificate_event_id: str | None = Field(default=None, max_length=100)
    posyandu_name: str | None = Field(default=None, max_length=200)
    verification_status: str | None = Field(default=None, max_length=10)
    verification_on: date | None = None
    verification_event_id: str | None = Field(default=None, max_length=100)
    posyandu_status: str | None = Field(default=None, max_length=10)
    posyandu_closed_on: date | None = None
    posyandu_event_id: str | None = Field(default=None, max_length=100)
    failed_mask: int
    posyandu_rank: int | None = None
    eligible: bool
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))


class AdjustmentRow(IncentivesTable, table=True):
    """A correction of an approved period (a late fact changed a decision), or a failed
    payment of a closed period carried over: paid (or recovered) in a later period."""

    __tablename__ = "adjustments"
    __table_args__ = (Index("ix_adjustments_in_period", "in_period", "cadre_id"),)

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    in_period: str = Field(max_length=7)
    for_period: str = Field(max_length=7, index=True)
    cadre_id: str = Field(max_length=36)
    kind: str = Field(max_length=20)  # correction | carry_over
    delta: int = Field(sa_column=Column(BigInteger, nullable=False))
    previous_amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    new_amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    previous_mask: int | None = None
    new_mask: int | None = None
    note: str = Field(default="", max_length=500)


class PaymentRow(IncentivesTable, table=True):
    """What a cadre is owed for an approved period, and where its payment stands."""

    __tablename__ = "payments"
    __table_args__ = (Index("ix_payments_period_status", "period", "status"),)

    period: str = Field(primary_key=True, max_length=7)
    cadre_id: str = Field(primary_key=True, max_length=36)
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    status: str = Field(max_length=10)  # pending | in_batch | paid | failed
    batch_id: str | None = Field(default=None, max_length=36)
    reference: str | None = Field(default=None, max_length=40)
    failure_reason: str | None = Field(default=None, max_length=500)
    paid_on: date | None = None
    attempts: int = 0
    carried_to: str | None = Field(default=None, max_length=7)


class PaymentBatchRow(IncentivesTable, table=True):
    __tablename__ = "payment_batches"

    batch_id: str = Field(primary_key=True, max_length=36)
    period: str = Field(max_length=7, index=True)
    number: int
    lines: int
    total_amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    without_details: int = 0
    created_at: datetime = Timestamp()
    created_by: str = Field(max_length=100)


class PaymentAttemptRow(IncentivesTable, table=True):
    """One line of one payment file, with the (encrypted) details it was sent with, so the
    file can be produced again byte for byte, and the bank's result."""

    __tablename__ = "payment_attempts"

    reference: str = Field(primary_key=True, max_length=40)
    batch_id: str = Field(max_length=36, index=True)
    line: int
    period: str = Field(max_length=7)
    cadre_id: str = Field(max_length=36)
    cadre_name: str = Field(default="", max_length=200)
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    method: str | None = Field(default=None, max_length=10)
    bank_enc: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    account_number_enc: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    account_holder_enc: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    result: str | None = Field(default=None, max_length=10)
    failure_reason: str | None = Field(default=None, max_length=500)
    paid_on: date | None = None
    recorded_at: datetime | None = Timestamp(nullable=True)
