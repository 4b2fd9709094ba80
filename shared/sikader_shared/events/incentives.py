"""Events of the incentives service on `sikader.incentives.v1`.

Per-cadre events (IncentiveEligibilityChanged, IncentivePaymentRecorded) are keyed by
`cadre_id`; events about a whole monthly period by `period`. Periods are calendar months in
Asia/Makassar time (WITA), written "YYYY-MM". Amounts are whole rupiah. No account numbers
or bank details travel here.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from sikader_shared import topics
from sikader_shared.events.base import Event, register
from sikader_shared.events.certification import Level

PERIOD_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"

Period = Annotated[str, Field(pattern=PERIOD_PATTERN, description="Calendar month in WITA, 'YYYY-MM'")]
Rupiah = Annotated[int, Field(ge=0, description="Whole rupiah")]
Count = Annotated[int, Field(ge=0)]


class EligibilityReason(BaseModel):
    """The outcome of one policy rule for one cadre and period."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    rule: str = Field(
        description="Rule code of the policy, e.g. 'cadre_active', 'certificate_valid', "
        "'posyandu_verified', 'posyandu_open', 'posyandu_cap', 'budget'"
    )
    passed: bool
    fact: str = Field(
        description="The fact the rule used, in English, "
        "e.g. 'certificate KDR-2025-000123 (Madya) revoked on 2025-06-02'"
    )
    fact_id: str | None = Field(
        default=None,
        description="The same fact in Indonesian, e.g. 'sertifikat KDR-2025-000123 (Madya) dicabut pada 2025-06-02' "
        "(what messages to cadres show; absent in events published before it was added)",
    )
    source_event_ids: list[str] = Field(default_factory=list, description="ce_id of each event the fact came from")


class AreaTotal(BaseModel):
    """Totals of a calculated period for one kecamatan."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    kecamatan_code: str = Field(description="Kemendagri code of the kecamatan")
    eligible_cadres: Count
    total_amount: Rupiah


class _IncentivesEvent(Event):
    service = "incentives"
    topic = topics.INCENTIVES


class _CadreIncentiveEvent(_IncentivesEvent):
    aggregate_field = "cadre_id"

    cadre_id: str = Field(description="Cadre id (UUID), as in the registry's events")
    period: Period


class _PeriodEvent(_IncentivesEvent):
    aggregate_field = "period"

    period: Period


@register
class IncentiveEligibilityChanged(_CadreIncentiveEvent):
    """A cadre's eligibility or amount for a period changed. Emitted only when the outcome
    changes; carries one reason per rule of the policy version used."""

    event_name = "IncentiveEligibilityChanged"

    eligible: bool = Field(description="Whether the cadre is to be paid for the period")
    amount: Rupiah = Field(description="Incentive in whole rupiah; 0 when not eligible")
    policy_version: str = Field(description="The incentive policy version that decided")
    reasons: list[EligibilityReason] = Field(description="One entry per rule of the policy")
    level: Level | None = Field(default=None, description="Certificate level used, if any")
    posyandu_id: str | None = Field(default=None, description="The cadre's primary Posyandu")
    kelurahan_code: str | None = Field(default=None, description="Kemendagri code, for filters")
    kecamatan_code: str | None = Field(default=None, description="Kemendagri code, for filters")
    previous_eligible: bool | None = Field(
        default=None, description="Outcome before this change; None for the first decision"
    )
    previous_amount: int | None = Field(
        default=None, ge=0, description="Amount before this change; None for the first decision"
    )
    decided_at: datetime


@register
class IncentivePeriodCalculated(_PeriodEvent):
    """Eligibility was calculated for every cadre for the period (it may be recalculated
    until it is approved; the latest calculation counts)."""

    event_name = "IncentivePeriodCalculated"

    policy_version: str = Field(description="The incentive policy version used")
    decision_hash: str = Field(description="SHA-256 hex digest of the period's decision set")
    cadres_evaluated: Count = Field(description="Cadres whose eligibility was decided")
    eligible_cadres: Count = Field(description="Cadres to be paid")
    total_amount: Rupiah
    budget_ceiling: int | None = Field(default=None, ge=0, description="Budget ceiling of the period in rupiah, if any")
    totals_by_kecamatan: list[AreaTotal] = Field(
        default_factory=list, description="Eligible cadres and amounts per kecamatan"
    )
    calculated_by: str = Field(description="OPD client that calculated (as in ce_actor)")
    calculated_at: datetime


@register
class IncentivePeriodApproved(_PeriodEvent):
    """The calculated period was approved (by a different key and OPD client)."""

    event_name = "IncentivePeriodApproved"

    policy_version: str = Field(description="The incentive policy version used")
    decision_hash: str = Field(description="Hash of the decision set that was approved")
    eligible_cadres: Count = Field(description="Cadres to be paid")
    total_amount: Rupiah
    calculated_by: str = Field(description="OPD client that calculated")
    approved_by: str = Field(description="OPD client that approved (as in ce_actor)")
    approved_at: datetime


@register
class IncentivePaymentRecorded(_CadreIncentiveEvent):
    """The bank's result for one cadre's payment was recorded. A failed payment is carried
    into a later batch."""

    event_name = "IncentivePaymentRecorded"

    payment_reference: str = Field(description="Reference of the payment line in the file")
    amount: Rupiah
    result: Literal["paid", "failed"] = Field(description="The bank's result for the payment")
    failure_reason: str | None = Field(default=None, description="The bank's reason, if failed")
    paid_on: date | None = Field(default=None, description="Value date, if paid")
    batch_id: str | None = Field(default=None, description="Payment batch (file) id")
    recorded_at: datetime


@register
class IncentivePeriodClosed(_PeriodEvent):
    """The period was closed; nothing in it changes any more."""

    event_name = "IncentivePeriodClosed"

    decision_hash: str | None = Field(default=None, description="Hash of the approved decisions")
    paid_cadres: Count = Field(description="Cadres paid for the period")
    paid_amount: Rupiah = Field(description="Total paid for the period, in rupiah")
    failed_cadres: Count = Field(description="Payments still failed, carried to a later batch")
    closed_by: str = Field(description="OPD client that closed (as in ce_actor)")
    closed_at: datetime
