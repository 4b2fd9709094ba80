"""Request and response models of the HTTP API (also the handlers' commands and results).
Answers are built from rows with `model_validate` (the Public models read attributes)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from certification.domain.certificates import Status, VerifyStatus
from certification.domain.levels import LevelName

CADRE_ID = "0b6f6c1e-8d1a-4c55-9a53-0c1f2d3e4a5b"
NUMBER = "SKD/6471/2026/MADYA/000123"


def _unique(values: list[str], what: str) -> list[str]:
    seen: set[str] = set()
    dupes = sorted({v for v in values if v in seen or seen.add(v)})  # type: ignore[func-returns-value]
    if dupes:
        raise ValueError(f"duplicate {what}: {', '.join(dupes)}")
    return values


# --------------------------------------------------------------------------- catalogue


class SkillPublic(BaseModel):
    code: str
    name: str


class SkillGroupPublic(BaseModel):
    code: str
    name: str
    skills: list[SkillPublic]


class CataloguePublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "version": "v1",
                    "title": "Katalog 25 keterampilan dasar kader Posyandu",
                    "source": "Kerangka kompetensi kader Kemenkes (draf, diperiksa Dinkes)",
                    "groups": [
                        {
                            "code": "1",
                            "name": "Pengelolaan Posyandu",
                            "skills": [{"code": "1.4", "name": "Melakukan kunjungan rumah"}],
                        }
                    ],
                }
            ]
        }
    )

    version: str
    title: str
    source: str
    groups: list[SkillGroupPublic]


class LevelRulePublic(BaseModel):
    level: LevelName
    required_groups: list[str]
    min_complete_groups: int


class LevelPolicyPublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "version": "levels-v1",
                    "certificate_validity_years": 3,
                    "expiry_notice_days": 30,
                    "levels": [{"level": "Purwa", "required_groups": ["1", "2"], "min_complete_groups": 3}],
                }
            ]
        }
    )

    version: str
    certificate_validity_years: int
    expiry_notice_days: int
    levels: list[LevelRulePublic]


# --------------------------------------------------------------------------- cadres


class CadrePublic(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "cadre_id": CADRE_ID,
                    "name": "Siti Aminah",
                    "status": "active",
                    "kelurahan_code": "64.71.02.1001",
                    "kecamatan_code": "64.71.02",
                    "posyandu_id": "5d0c3a52-6a7e-4c1b-9f43-1a2b3c4d5e6f",
                    "level": "Madya",
                    "certificate_number": NUMBER,
                }
            ]
        },
    )

    cadre_id: str
    name: str | None
    status: str | None = Field(description="active / inactive, as last seen on the registry's events")
    kelurahan_code: str | None
    kecamatan_code: str | None
    posyandu_id: str | None
    level: LevelName | None = Field(description="Level of the current certificate (valid, suspended or expired)")
    certificate_number: str | None


# --------------------------------------------------------------------------- trainings


class TrainingCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "title": "Pelatihan kader: pemantauan pertumbuhan balita",
                    "organiser": "dinkes",
                    "skill_codes": ["2.1", "2.2"],
                    "started_on": "2026-11-02",
                    "ends_on": "2026-11-04",
                    "place": "Aula Puskesmas Damai",
                    "refresher": False,
                    "participants": [CADRE_ID],
                }
            ]
        },
    )

    title: str = Field(min_length=3, max_length=200)
    organiser: str | None = Field(
        default=None, min_length=2, max_length=100, description="Organising OPD (client id); default: the caller's"
    )
    skill_codes: list[str] = Field(min_length=1, max_length=25, description="Catalogue codes of the skills covered")
    started_on: date
    ends_on: date
    place: str | None = Field(default=None, max_length=200)
    refresher: bool = Field(default=False, description="A refresher training renews attendees' certificates")
    participants: list[str] = Field(min_length=1, max_length=500, description="Cadre ids (UUID)")

    @field_validator("skill_codes")
    @classmethod
    def _unique_skills(cls, v: list[str]) -> list[str]:
        return _unique(v, "skill codes")

    @field_validator("participants")
    @classmethod
    def _unique_participants(cls, v: list[str]) -> list[str]:
        return _unique(v, "participants")

    @model_validator(mode="after")
    def _dates(self) -> TrainingCreate:
        if self.ends_on < self.started_on:
            raise ValueError("ends_on is before started_on")
        return self


class TrainingCompletion(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"attended": [CADRE_ID], "completed_on": "2026-11-04"}]},
    )

    attended: list[str] = Field(max_length=500, description="Participants who attended to the end")
    completed_on: date | None = Field(default=None, description="Default: the training's end date or today")

    @field_validator("attended")
    @classmethod
    def _unique_attended(cls, v: list[str]) -> list[str]:
        return _unique(v, "attendees")


class ParticipantPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    cadre_id: str
    attended: bool | None = Field(description="None until the training is completed")
    name: str | None = Field(None, description="The cadre's name as certification knows it (null if not yet known)")


class TrainingFields(BaseModel):
    """What a training's listing and its full view both show."""

    training_id: str
    title: str
    organiser: str
    skill_codes: list[str]
    started_on: date
    ends_on: date
    place: str | None
    refresher: bool
    status: Literal["scheduled", "completed"]
    completed_on: date | None


class TrainingPublic(TrainingFields):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "training_id": "f1d7a9c0-1234-4e5f-8a9b-0c1d2e3f4a5b",
                    "title": "Pelatihan kader: pemantauan pertumbuhan balita",
                    "organiser": "dinkes",
                    "skill_codes": ["2.1", "2.2"],
                    "started_on": "2026-11-02",
                    "ends_on": "2026-11-04",
                    "place": "Aula Puskesmas Damai",
                    "refresher": False,
                    "status": "completed",
                    "completed_on": "2026-11-04",
                    "participants": [{"cadre_id": CADRE_ID, "attended": True, "name": "Siti Aminah"}],
                }
            ]
        },
    )

    participants: list[ParticipantPublic]
    renewed_certificates: list[str] = Field(
        default_factory=list, description="Numbers of certificates renewed by this (refresher) training"
    )


# --------------------------------------------------------------------------- assessments


class SkillResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    skill_code: str = Field(min_length=1, max_length=20)
    passed: bool
    notes: str | None = Field(default=None, max_length=1000)


class AssessmentCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "cadre_id": CADRE_ID,
                    "assessor": "Puskesmas Klandasan Ilir",
                    "assessed_on": "2026-11-20",
                    "results": [
                        {"skill_code": "2.1", "passed": True, "notes": "Menimbang dengan dacin dengan benar"},
                        {"skill_code": "2.2", "passed": False, "notes": "Perlu latihan membaca grafik KMS"},
                    ],
                }
            ]
        },
    )

    cadre_id: str = Field(min_length=1, max_length=64)
    assessor: str = Field(min_length=3, max_length=200, description="Assessing unit, e.g. a Puskesmas")
    assessed_on: date
    results: list[SkillResult] = Field(min_length=1, max_length=25, description="Pass/fail per skill")

    @field_validator("results")
    @classmethod
    def _unique_skills(cls, v: list[SkillResult]) -> list[SkillResult]:
        _unique([r.skill_code for r in v], "skill codes")
        return v


class AssessmentPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    assessment_id: str
    cadre_id: str
    skill_code: str
    skill_group: str
    passed: bool
    assessor: str
    assessed_on: date
    notes: str | None
    badge_id: str | None = None


class BadgePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    badge_id: str
    skill_code: str
    skill_name: str
    skill_group: str
    awarded_on: date
    last_passed_on: date


class CertificatePublic(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "certificate_id": "9a8b7c6d-1e2f-4a3b-8c4d-5e6f7a8b9c0d",
                    "number": NUMBER,
                    "cadre_id": CADRE_ID,
                    "holder_name": "Siti Aminah",
                    "level": "Madya",
                    "skill_codes": ["1.1", "1.2"],
                    "issued_on": "2026-11-20",
                    "expires_on": "2029-11-20",
                    "issuer": "Dinas Kesehatan Kota Balikpapan",
                    "status": "valid",
                    "status_reason": None,
                    "supersedes_certificate_id": None,
                    "superseded_by_certificate_id": None,
                    "level_policy_version": "levels-v1",
                    "verify_url": "http://127.0.0.1:8002/certificates/SKD/6471/2026/MADYA/000123/verify",
                }
            ]
        },
    )

    certificate_id: str
    number: str
    cadre_id: str
    holder_name: str
    level: LevelName
    skill_codes: list[str]
    issued_on: date
    expires_on: date
    issuer: str
    status: Status
    status_reason: str | None
    supersedes_certificate_id: str | None
    superseded_by_certificate_id: str | None
    level_policy_version: str
    verify_url: str


class AssessmentOutcome(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "cadre_id": CADRE_ID,
                    "assessments": [],
                    "badges": ["1.1", "1.2", "2.1"],
                    "complete_groups": ["1", "2", "3"],
                    "level": "Purwa",
                    "certificate_action": "issue",
                    "certificate": None,
                    "superseded_certificate_id": None,
                }
            ]
        }
    )

    cadre_id: str
    assessments: list[AssessmentPublic]
    badges: list[str] = Field(description="Skill codes of every badge the cadre holds")
    complete_groups: list[str]
    level: LevelName | None = Field(description="Level the badges reach under the current policy")
    certificate_action: Literal["issue", "renew", "none"]
    certificate: CertificatePublic | None = Field(description="The certificate issued or renewed, if any")
    superseded_certificate_id: str | None = None


# --------------------------------------------------------------------------- certificates


class RevocationRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"reason": "Penilaian terbukti tidak sah (temuan audit Dinkes)"}]},
    )

    reason: str = Field(min_length=3, max_length=500)


class VerificationPublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "number": NUMBER,
                    "status": "valid",
                    "level": "Madya",
                    "holder": "Siti A***h",
                    "issued_on": "2026-11-20",
                    "expires_on": "2029-11-20",
                    "issuer": "Dinas Kesehatan Kota Balikpapan",
                    "checked_on": "2027-01-05",
                }
            ]
        }
    )

    number: str
    status: VerifyStatus
    level: LevelName | None = None
    holder: str | None = Field(
        default=None, description="Holder's name, partly masked: only with the certificate's check code (`code`)"
    )
    issued_on: date | None = None
    expires_on: date | None = None
    issuer: str | None = None
    checked_on: date


class TrainingHistoryItem(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    training_id: str
    title: str
    organiser: str
    skill_codes: list[str]
    started_on: date
    ends_on: date
    refresher: bool
    status: str
    attended: bool | None


class CadreHistory(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "cadre": CadrePublic.model_config["json_schema_extra"]["examples"][0],  # type: ignore[index]
                    "trainings": [],
                    "assessments": [],
                    "badges": [],
                    "certificates": [],
                }
            ]
        }
    )

    cadre: CadrePublic
    trainings: list[TrainingHistoryItem]
    assessments: list[AssessmentPublic]
    badges: list[BadgePublic]
    certificates: list[CertificatePublic]


class SweepResult(BaseModel):
    announced: list[str] = Field(default_factory=list, description="Numbers announced as expiring")
    expired: list[str] = Field(default_factory=list, description="Numbers expired")
    checked_at: datetime


# --------------------------------------------------------------------------- the console's figures


class CertifiedAreaPublic(BaseModel):
    """One row: holders of a current valid certificate in an area, per level, and their total."""

    model_config = ConfigDict(from_attributes=True)

    kecamatan_code: str | None = Field(description="None: cadres whose area certification has not seen yet")
    kelurahan_code: str | None = None
    by_level: dict[LevelName, int]
    total: int


class CertifiedStatistics(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "as_of": "2026-11-20",
                    "levels": ["Purwa", "Madya", "Utama"],
                    "kecamatan": [
                        {
                            "kecamatan_code": "64.71.02",
                            "kelurahan_code": None,
                            "by_level": {"Purwa": 12, "Madya": 4, "Utama": 1},
                            "total": 17,
                        }
                    ],
                    "kelurahan": [
                        {
                            "kecamatan_code": "64.71.02",
                            "kelurahan_code": "64.71.02.1001",
                            "by_level": {"Purwa": 5, "Madya": 2, "Utama": 0},
                            "total": 7,
                        }
                    ],
                    "city": {"kecamatan_code": None, "by_level": {"Purwa": 12, "Madya": 4, "Utama": 1}, "total": 17},
                }
            ]
        },
    )

    as_of: date = Field(description="The local (WITA) date the figures hold for")
    levels: list[LevelName]
    kecamatan: list[CertifiedAreaPublic]
    kelurahan: list[CertifiedAreaPublic]
    city: CertifiedAreaPublic


class ExpiringCertificatePublic(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "number": NUMBER,
                    "certificate_id": "8c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
                    "cadre_id": CADRE_ID,
                    "holder_name": "Siti Aminah",
                    "level": "Madya",
                    "valid_until": "2026-12-10",
                    "days_left": 20,
                    "kelurahan_code": "64.71.02.1001",
                    "kecamatan_code": "64.71.02",
                }
            ]
        },
    )

    number: str
    certificate_id: str
    cadre_id: str
    holder_name: str
    level: LevelName
    valid_until: date = Field(description="The expiry date: the certificate is no longer valid from this date")
    days_left: int = Field(description="Local (WITA) days from today to valid_until")
    kelurahan_code: str | None
    kecamatan_code: str | None


class ExpiringStatistics(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"as_of": "2026-11-20", "within_30": 3, "within_60": 7, "within_90": 12}]}
    )

    as_of: date = Field(description="The local (WITA) date the windows count from")
    within_30: int = Field(description="Current valid certificates expiring in the next 30 days")
    within_60: int = Field(description="... in the next 60 days (including the 30)")
    within_90: int = Field(description="... in the next 90 days (including the 60)")


class TrainingSummary(TrainingFields):
    """A training in a list: its participants counted, not listed (GET /trainings/{id} lists them)."""

    model_config = ConfigDict(from_attributes=True)

    created_by: str = Field(description="The OPD client that planned it (the one that may record attendance)")
    participants: int
    attended: int = Field(description="Attendees recorded (0 until completed)")


class ErrorBody(BaseModel):
    """Shape of every 4xx answer."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={"examples": [{"error": "conflict", "detail": "cadre is inactive", "cadre_id": CADRE_ID}]},
    )

    error: str
    detail: str


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No or bad API key"},
    403: {"model": ErrorBody, "description": "The key lacks the scope"},
    404: {"model": ErrorBody, "description": "Not found (e.g. a cadre no registry event has announced yet)"},
    409: {"model": ErrorBody, "description": "Refused in the current state (e.g. an inactive cadre)"},
    422: {"model": ErrorBody, "description": "Invalid input, with the field and reason"},
}
NUMBER_PATH = Path(description="Certificate number, e.g. SKD/6471/2026/MADYA/000123")
