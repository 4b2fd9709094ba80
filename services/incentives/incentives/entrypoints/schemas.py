"""Request and response models of the HTTP API (with OpenAPI examples)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field, StrictInt, computed_field, field_validator

from incentives.domain.policy import DEFAULT_AMOUNTS, REQUIREMENTS
from sikader_shared.clock import utc
from sikader_shared.events import PERIOD_PATTERN

PERIOD_EXAMPLE = "2026-11"
HASH_EXAMPLE = "9f2c6a1e0b4d4b8f8e2f7f1c3d5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6"
CADRE_EXAMPLE = "0b6f7c1e-5d2a-4c83-9a57-3f1d2e4b6a10"

PeriodPath = Path(pattern=PERIOD_PATTERN, description="Calendar month in WITA, 'YYYY-MM'", examples=["2026-11"])
PeriodQuery = Query(default=None, pattern=PERIOD_PATTERN, description="YYYY-MM (WITA); default: the current month")


class PolicyCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "effective_from": "2027-01",
                    "amounts": {"Purwa": 250000, "Madya": 350000, "Utama": 500000},
                    "requirements": list(REQUIREMENTS),
                    "cap_per_posyandu": 5,
                    "budget_ceiling": 1500000000,
                    "note": "APBD 2027: ceiling per month",
                }
            ]
        },
    )

    effective_from: str = Field(pattern=PERIOD_PATTERN, description="First period (YYYY-MM, WITA) it applies to")
    # Strict: JSON true/false or "5000" are not amounts (lax parsing made `false` a 0 ceiling).
    amounts: dict[str, StrictInt] = Field(
        default_factory=lambda: dict(DEFAULT_AMOUNTS),
        description="Whole rupiah per month per certification level (Purwa, Madya, Utama)",
    )
    requirements: list[str] = Field(
        default_factory=lambda: list(REQUIREMENTS), description=f"Requirements switched on, of {list(REQUIREMENTS)}"
    )
    cap_per_posyandu: StrictInt | None = Field(default=5, description="Paid cadres per Posyandu at most; null: no cap")
    budget_ceiling: StrictInt | None = Field(default=None, description="Rupiah per period at most; null: no ceiling")
    note: str = Field(default="", max_length=1000)


class PolicyPublic(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "version": "v2",
                    "effective_from": "2027-01",
                    "amounts": {"Madya": 350000, "Purwa": 250000, "Utama": 500000},
                    "requirements": list(REQUIREMENTS),
                    "cap_per_posyandu": 5,
                    "budget_ceiling": 1500000000,
                    "note": "APBD 2027: ceiling per month",
                    "created_at": "2026-12-01T02:00:00Z",
                    "created_by": "bpkad",
                }
            ]
        },
    )

    version: str
    effective_from: str
    amounts: dict[str, int]
    requirements: list[str]
    cap_per_posyandu: int | None
    budget_ceiling: int | None
    note: str
    created_at: datetime
    created_by: str

    @field_validator("created_at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return utc(value)  # SQLite gives back naive timestamps


class Reason(BaseModel):
    rule: str = Field(
        description="cadre_active, certificate_valid, posyandu_verified, posyandu_open, posyandu_cap, budget"
    )
    passed: bool
    fact: str = Field(description="The fact the rule used (English, as in the event)")
    text_en: str
    text_id: str = Field(description="The same in Indonesian")
    source_event_ids: list[str]


class CalculationView(BaseModel):
    included: bool = Field(description="Whether the period's calculation decided this cadre")
    eligible: bool | None = Field(description="The calculation's decision (budget rule applied)")
    amount: int | None = Field(description="The calculation's amount (0 when not eligible)")
    budget_rule_failed: bool = Field(default=False, description="Not paid only because the budget ceiling was reached")
    matches_live: bool = Field(
        description="Same set, eligibility and amount before the budget rule as the live decision"
    )
    needs_recalculation: bool = Field(
        description="The period must be calculated again before it can be approved (this cadre or another differs)"
    )
    decision_hash: str | None


class EligibilityAnswer(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "cadre_id": CADRE_EXAMPLE,
                    "period": PERIOD_EXAMPLE,
                    "eligible": False,
                    "amount": 0,
                    "policy_version": "v1",
                    "source": "live",
                    "level": None,
                    "posyandu_id": "5a0c3c2e-1f0b-4d1e-8f66-0d8c2b7e9a11",
                    "kelurahan_code": "64.71.01.1001",
                    "kecamatan_code": "64.71.01",
                    "reasons": [
                        {
                            "rule": "certificate_valid",
                            "passed": False,
                            "fact": "certificate KDR-2026-000123 (Madya) revoked on 2026-11-05",
                            "text_en": "certificate KDR-2026-000123 (Madya) revoked on 2026-11-05",
                            "text_id": "sertifikat KDR-2026-000123 (Madya) dicabut pada 2026-11-05",
                            "source_event_ids": ["3e0d6f0e-3a59-4c8e-9d0a-1f3b7b2c4d5e"],
                        }
                    ],
                }
            ]
        }
    )

    cadre_id: str
    period: str
    eligible: bool
    amount: int
    policy_version: str
    source: Literal["live", "calculation"] = Field(
        description="'live': decided now from the projections, as events and messages announce it (open or "
        "calculated period; no budget rule); 'calculation': the stored decision of an approved, paid or closed period"
    )
    level: str | None
    posyandu_id: str | None
    kelurahan_code: str
    kecamatan_code: str
    reasons: list[Reason]
    period_state: Literal["open", "calculated", "approved", "paid", "closed"] = Field(
        default="open", description="The period's state: what `calculation` is about"
    )
    calculation: CalculationView | None = Field(
        default=None,
        description="For a calculated (not yet approved) period: the calculation's decision for this cadre and "
        "whether it matches the live one; null while the period is open",
    )


class PeriodPublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "period": PERIOD_EXAMPLE,
                    "state": "calculated",
                    "policy_version": "v1",
                    "decision_hash": HASH_EXAMPLE,
                    "cadres_evaluated": 4200,
                    "eligible_cadres": 1870,
                    "total_amount": 598500000,
                    "budget_ceiling": None,
                    "corrections": 0,
                    "needs_recalculation": False,
                    "calculation_count": 1,
                    "calculated_by": "dinkes",
                    "calculated_at": "2026-12-01T01:00:00+00:00",
                    "approved_by": None,
                    "approved_at": None,
                    "paid_at": None,
                    "closed_by": None,
                    "closed_at": None,
                    "allowed_actions": ["calculate", "approve"],
                    "payments": {},
                }
            ]
        }
    )

    period: str
    state: Literal["open", "calculated", "approved", "paid", "closed"]
    policy_version: str | None
    decision_hash: str | None = Field(description="SHA-256 of the decision set (same inputs, same hash)")
    cadres_evaluated: int
    eligible_cadres: int
    total_amount: int
    budget_ceiling: int | None
    corrections: int = Field(description="Adjustments in this period: corrections of approved periods, carry-overs")
    needs_recalculation: bool = Field(
        default=False,
        description="A live decision changed since the calculation (another cadre, eligibility or amount before the "
        "budget rule): approval is refused until the period is calculated again",
    )
    calculation_count: int
    calculated_by: str | None
    calculated_at: str | None
    approved_by: str | None
    approved_at: str | None
    paid_at: str | None
    closed_by: str | None
    closed_at: str | None
    allowed_actions: list[str]
    payments: dict[str, int] = Field(description="Payments by status (pending, in_batch, paid, failed)")


class ApproveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"decision_hash": HASH_EXAMPLE}]})

    decision_hash: str | None = Field(
        default=None, description="The hash of the decision set the approver reviewed (refused if it changed since)"
    )


class AreaTotals(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kecamatan_code": "64.71.01",
                    "kelurahan_code": "64.71.01.1001",
                    "cadres": 120,
                    "eligible_cadres": 64,
                    "total_amount": 20150000,
                }
            ]
        }
    )

    kecamatan_code: str
    kelurahan_code: str | None = None
    posyandu_id: str | None = None
    posyandu_name: str | None = None
    cadres: int
    eligible_cadres: int
    total_amount: int


class DecisionPublic(BaseModel):
    cadre_id: str
    posyandu_id: str | None
    kelurahan_code: str
    kecamatan_code: str
    eligible: bool
    amount: int
    level: str | None
    posyandu_rank: int | None
    failed_rules: list[str]
    reasons: list[Reason]


class DecisionPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"period": PERIOD_EXAMPLE, "policy_version": "v1", "items": [], "next_after": None}]
        }
    )

    period: str
    policy_version: str
    items: list[DecisionPublic]
    next_after: str | None = Field(description="Pass as `after` for the next page; null on the last page")


class AdjustmentPublic(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "in_period": "2026-12",
                    "for_period": "2026-11",
                    "cadre_id": CADRE_EXAMPLE,
                    "kind": "correction",
                    "delta": -350000,
                    "previous_amount": 350000,
                    "new_amount": 0,
                    "note": "a late deactivation changed the approved decision",
                }
            ]
        },
    )

    in_period: str
    for_period: str
    cadre_id: str
    kind: Literal["correction", "carry_over"]
    delta: int = Field(description="Positive: paid in this period; negative: to be recovered (not deducted)")
    previous_amount: int
    new_amount: int
    note: str


class PaymentBatchPublic(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "batch_id": "7d4c9a0e-8d8b-4f43-9d2e-0a1b2c3d4e5f",
                    "period": PERIOD_EXAMPLE,
                    "number": 1,
                    "lines": 1860,
                    "total_amount": 595000000,
                    "without_details": 10,
                    "created_at": "2026-12-03T02:00:00Z",
                    "created_by": "bpkad",
                    "file": "/periods/2026-11/payment-batches/7d4c9a0e-8d8b-4f43-9d2e-0a1b2c3d4e5f/file",
                }
            ]
        },
    )

    batch_id: str
    period: str
    number: int
    lines: int = Field(description="Lines in the payment file")
    total_amount: int
    without_details: int = Field(description="Payments failed at once: no payment details on record")
    created_at: datetime
    created_by: str

    @computed_field(description="Where to download the CSV payment file")  # type: ignore[prop-decorator]
    @property
    def file(self) -> str:
        return f"/periods/{self.period}/payment-batches/{self.batch_id}/file"


class ResultsRecorded(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "period": PERIOD_EXAMPLE,
                    "batch_id": "7d4c9a0e-8d8b-4f43-9d2e-0a1b2c3d4e5f",
                    "paid": 1855,
                    "failed": 5,
                    "already_recorded": 0,
                    "state": "paid",
                }
            ]
        }
    )

    period: str
    batch_id: str
    paid: int
    failed: int
    already_recorded: int
    state: str


class FairnessReport(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "period": PERIOD_EXAMPLE,
                    "kecamatan": [
                        {
                            "kecamatan_code": "64.71.01",
                            "cadres": 700,
                            "eligible_cadres": 310,
                            "total_amount": 99000000,
                            "paid_cadres": 0,
                            "paid_amount": 0,
                            "posyandu": 70,
                            "posyandu_funded": 61,
                            "posyandu_coverage": 0.8714,
                        }
                    ],
                    "kelurahan": [],
                    "posyandu_left_out": [
                        {
                            "posyandu_id": "5a0c3c2e-1f0b-4d1e-8f66-0d8c2b7e9a11",
                            "posyandu_name": "Posyandu Melati",
                            "kecamatan_code": "64.71.01",
                            "kelurahan_code": "64.71.01.1001",
                            "cadres": 8,
                            "reason": "posyandu_not_verified",
                            "why": "Posyandu not VERIFIED (PENDING)",
                        }
                    ],
                    "posyandu_left_out_total": 1,
                    "city_median_amount_per_cadre": 212500.0,
                    "fairness_flag_ratio": 0.8,
                    "kelurahan_below_threshold": 1,
                    "evenness": {
                        "kelurahan_with_funded_posyandu": 34,
                        "kelurahan_total": 34,
                        "min_posyandu_coverage": 0.61,
                        "max_posyandu_coverage": 1.0,
                    },
                }
            ]
        }
    )

    period: str
    kecamatan: list[dict[str, Any]]
    kelurahan: list[dict[str, Any]]
    posyandu_left_out: list[dict[str, Any]]
    posyandu_left_out_total: int
    evenness: dict[str, Any]
    city_median_amount_per_cadre: float | None = Field(
        None,
        description="Median over the kelurahan (with active cadres) of amount_per_cadre: each kelurahan's "
        "calculated amount / its cadres active through the period. Each kelurahan row carries "
        "active_cadres, amount_per_cadre, ratio_to_median and below_threshold",
    )
    fairness_flag_ratio: float = Field(
        0.8, description="A kelurahan is below_threshold when ratio_to_median < this (a setting)"
    )
    kelurahan_below_threshold: int = Field(0, description="How many kelurahan are flagged")


# --------------------------------------------------------------------------- changes between periods

ChangeKind = Literal["added", "dropped", "amount_changed", "posyandu_verification"]


class ChangeCause(BaseModel):
    rule: str = Field(
        description="The rule whose outcome flipped (cadre_active ... budget), or level / policy_amount "
        "for an amount that moved, or not_calculated for a cadre in one calculation only"
    )
    text_en: str = Field(description="The fact now")
    text_id: str = Field(description="The fact now, in Indonesian")
    before_en: str | None = Field(None, description="The fact in the previous period")
    before_id: str | None = None
    source_event_ids: list[str] = Field(description="Ids of the events behind the facts (now, then before)")


class CadreChange(BaseModel):
    cadre_id: str
    posyandu_id: str | None
    posyandu_name: str | None
    kelurahan_code: str
    kecamatan_code: str
    eligible_before: bool | None = Field(description="None: not in the previous calculation")
    eligible_now: bool | None
    amount_before: int | None
    amount_now: int | None
    level_before: str | None
    level_now: str | None
    causes: list[ChangeCause]


class VerificationCause(BaseModel):
    event_id: str | None
    event_type: str | None = Field(description="e.g. PosyanduFacilityVerified; null for states set before it was kept")
    on: date | None = Field(description="The date of the verification state now")
    text_en: str
    text_id: str


class PosyanduVerificationChange(BaseModel):
    posyandu_id: str
    posyandu_name: str | None
    kelurahan_code: str | None
    kecamatan_code: str | None
    status_before: str | None
    status_before_on: date | None
    event_id_before: str | None
    status_now: str | None
    status_now_on: date | None
    event_id: str | None
    event_type: str | None
    cause: VerificationCause


class ChangeCounts(BaseModel):
    added: int = Field(description="Eligible now, not in the previous calculated period")
    dropped: int = Field(description="Eligible in the previous calculated period, not now")
    amount_changed: int = Field(description="Eligible in both, another amount")
    posyandu_verification: int = Field(description="Posyandu (with cadres) whose verification state differs")


class PeriodChanges(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "period": "2026-12",
                    "previous_period": PERIOD_EXAMPLE,
                    "policy_version": "v1",
                    "previous_policy_version": "v1",
                    "counts": {"added": 1, "dropped": 0, "amount_changed": 0, "posyandu_verification": 1},
                    "limit": 100,
                    "added": [],
                    "dropped": [],
                    "amount_changed": [],
                    "posyandu_verification": [],
                    "more": {"added": False, "dropped": False, "amount_changed": False, "posyandu_verification": False},
                }
            ]
        }
    )

    period: str
    previous_period: str = Field(description="The latest earlier period with a calculation")
    policy_version: str
    previous_policy_version: str
    counts: ChangeCounts
    limit: int = Field(description="Items per list at most; GET /periods/{period}/changes/{kind} pages through all")
    added: list[CadreChange]
    dropped: list[CadreChange]
    amount_changed: list[CadreChange]
    posyandu_verification: list[PosyanduVerificationChange]
    more: dict[str, bool] = Field(description="Per list: whether it has more than shown here")


# --------------------------------------------------------------------------- one decision explained


class RuleExplainedPublic(BaseModel):
    rule: str
    required: bool = Field(description="Held by the policy (a requirement it requires, a cap or ceiling it sets)")
    passed: bool
    text_en: str
    text_id: str
    facts: dict[str, Any] = Field(description="The values the rule read, as stored with the decision")
    source_event_ids: list[str]


class AmountStepsPublic(BaseModel):
    meets_requirements: bool
    amount_for_level: int
    before_cap: int = Field(description="The level's amount once the requirements are met")
    cap_per_posyandu: int | None
    posyandu_rank: int | None
    cap_applied: bool = Field(description="The cap left this cadre out")
    after_cap: int
    budget_ceiling: int | None
    budget_applied: bool = Field(description="The budget ceiling left this cadre out")
    amount: int


class DecisionExplained(BaseModel):
    period: str
    period_state: str
    decision_hash: str | None
    cadre_id: str
    posyandu_id: str | None
    posyandu_name: str | None
    kelurahan_code: str
    kecamatan_code: str
    policy: dict[str, Any] = Field(description="The policy version used: amounts, requirements, cap, ceiling")
    eligible: bool
    level: str | None
    amount: int
    amount_steps: AmountStepsPublic
    rules: list[RuleExplainedPublic]
