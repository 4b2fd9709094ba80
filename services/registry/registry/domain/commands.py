"""Commands (what a caller asks the registry to do), validated field by field. The HTTP API
and the CSV import both build these, so a spreadsheet row obeys the same rules as a form."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from registry.domain.errors import FieldError
from registry.domain.identity import Sex, normalise_phone

Code = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z][a-z0-9_]{1,39}$")]
KelurahanCode = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\d{2}\.\d{2}\.\d{2}\.\d{4}$")]
Text100 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Text300 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
RtRw = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\d{1,3}$")]
PosyanduType = Literal["balita", "lansia", "remaja", "ILP"]
FacilityStatus = Literal["own_building", "resident_house", "public_building", "none"]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
Uuid = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, pattern=_UUID)]


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _phone(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    try:
        return normalise_phone(value)
    except FieldError as exc:
        raise ValueError(exc.reason) from exc


def _email(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if len(value) > 200 or not _EMAIL.match(value):
        raise ValueError("not an email address")
    return value.lower()


def _birth_date(value: date) -> date:
    if value.year < 1900:
        raise ValueError("birth date before 1900")
    return value


# --------------------------------------------------------------------------- cadres


class PaymentDetails(_Command):
    """Where the cadre's incentive is paid: a bank account or an e-wallet."""

    method: Literal["bank", "e_wallet"] = Field(description="bank transfer or e-wallet")
    bank: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=50)] = Field(
        description="Bank or e-wallet provider code, e.g. 'BPD_KALTIMTARA', 'BRI', 'DANA'"
    )
    account_number: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\d{5,30}$")] = Field(
        description="Account number, or the e-wallet's phone number in digits"
    )
    account_holder: Text100 | None = Field(default=None, description="Name of the account holder")

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "method": "bank",
                    "bank": "BPD_KALTIMTARA",
                    "account_number": "0012345678",
                    "account_holder": "Siti Aminah",
                }
            ]
        },
    )


class CadreCreate(_Command):
    """Register a cadre. Either `posyandu_id` (the primary Posyandu; its kelurahan is where
    the cadre serves) or `kelurahan_code` (a cadre not tied to one Posyandu)."""

    nik: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\d{16}$")] = Field(
        description="16-digit NIK; digits 7-12 must agree with birth_date and sex"
    )
    name: Text100
    sex: Sex = Field(description="F (perempuan) or M (laki-laki)")
    birth_date: date
    phone: str | None = Field(default=None, description="Any Indonesian form (0812..., 62812...); stored as +62...")
    email: str | None = None
    address: Text300 | None = None
    roles: list[Code] = Field(
        default_factory=lambda: ["posyandu_cadre"],
        max_length=10,
        description="Role codes: posyandu_cadre, pkk, child_protection, social_worker, ...",
    )
    kelurahan_code: KelurahanCode | None = Field(default=None, description="Where the cadre serves")
    posyandu_id: Uuid | None = Field(default=None, description="Primary Posyandu")
    posyandu_role: Code | None = Field(default=None, description="Role at the Posyandu, e.g. 'ketua', 'core'")
    joined_on: date | None = Field(default=None, description="Serving since (tenure)")
    payment: PaymentDetails | None = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "nik": "6471015508900001",
                    "name": "Siti Aminah",
                    "sex": "F",
                    "birth_date": "1990-08-15",
                    "phone": "0812-3456-7890",
                    "email": "siti@example.org",
                    "address": "Jl. Jend. Sudirman No. 1, RT 012",
                    "roles": ["posyandu_cadre", "pkk"],
                    "posyandu_id": "0f8e6c3a-1b2d-4e5f-8a9b-0c1d2e3f4a5b",
                    "posyandu_role": "ketua",
                    "joined_on": "2019-03-01",
                    "payment": {"method": "bank", "bank": "BPD_KALTIMTARA", "account_number": "0012345678"},
                }
            ]
        },
    )

    _v_phone = field_validator("phone")(_phone)
    _v_email = field_validator("email")(_email)
    _v_birth = field_validator("birth_date")(_birth_date)

    @model_validator(mode="after")
    def _where(self) -> CadreCreate:
        if self.kelurahan_code is None and self.posyandu_id is None:
            raise ValueError("give posyandu_id or kelurahan_code (where the cadre serves)")
        return self


class CadreUpdate(_Command):
    """Change a cadre's data. Only the fields sent change; `null` clears an optional field.
    Sex, birth date and NIK are checked against each other again."""

    nik: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\d{16}$")] | None = None
    name: Text100 | None = None
    sex: Sex | None = None
    birth_date: date | None = None
    phone: str | None = None
    email: str | None = None
    address: Text300 | None = None
    roles: list[Code] | None = Field(default=None, max_length=10)
    posyandu_role: Code | None = None
    joined_on: date | None = None
    payment: PaymentDetails | None = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"phone": "0813-1111-2222", "roles": ["posyandu_cadre", "child_protection"]}]},
    )

    _v_phone = field_validator("phone")(_phone)
    _v_email = field_validator("email")(_email)

    @field_validator("birth_date")
    @classmethod
    def _v_birth(cls, value: date | None) -> date | None:
        return None if value is None else _birth_date(value)


class CadreAssign(_Command):
    posyandu_id: Uuid
    posyandu_role: Code | None = None
    assigned_on: date | None = Field(default=None, description="Effective date; today (WITA) when omitted")
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = Field(
        default=None, description="e.g. 'transfer'"
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"posyandu_id": "0f8e6c3a-1b2d-4e5f-8a9b-0c1d2e3f4a5b", "posyandu_role": "core", "reason": "transfer"}
            ]
        },
    )


class CadreStatusChange(_Command):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] | None = None
    effective_on: date | None = Field(default=None, description="Effective date; today (WITA) when omitted")

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "moved away", "effective_on": "2026-11-01"}]}
    )


# --------------------------------------------------------------------------- Posyandu


class InstitutionIn(_Command):
    """Founding decree (SK) of the lurah and registration as a kelurahan institution (LKK)."""

    sk_number: Text100 | None = None
    sk_date: date | None = None
    lkk_registration_number: Text100 | None = None
    lkk_registered_on: date | None = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "sk_number": "188.4/12/KLI/2024",
                    "sk_date": "2024-07-01",
                    "lkk_registration_number": "LKK-KLI-07",
                    "lkk_registered_on": "2024-08-01",
                }
            ]
        },
    )


class ManagementRoleIn(_Command):
    role: Code = Field(description="ketua, sekretaris, bendahara, ...")
    cadre_id: Uuid | None = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"role": "ketua", "cadre_id": "7c1e2d3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"}]},
    )


class PosyanduCreate(_Command):
    name: Text100
    kelurahan_code: KelurahanCode
    posyandu_type: PosyanduType
    address: Text300 | None = None
    rt: RtRw | None = None
    rw: RtRw | None = None
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    puskesmas: Text100 | None = Field(default=None, description="Supervising Puskesmas")
    institution: InstitutionIn | None = None
    management: list[ManagementRoleIn] = Field(default_factory=list, max_length=30)

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "Posyandu Melati",
                    "kelurahan_code": "64.71.06.1002",
                    "posyandu_type": "balita",
                    "address": "Jl. Ahmad Yani Gg. Mawar No. 3",
                    "rt": "012",
                    "latitude": -1.2675,
                    "longitude": 116.8289,
                    "puskesmas": "Puskesmas Klandasan Ilir",
                    "institution": {"sk_number": "188.4/12/KLI/2024", "sk_date": "2024-07-01"},
                    "management": [{"role": "ketua"}],
                }
            ]
        },
    )

    @model_validator(mode="after")
    def _coordinates(self) -> PosyanduCreate:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("give both latitude and longitude, or neither")
        return self


class PosyanduUpdate(_Command):
    """Only the fields sent change; `null` clears an optional field."""

    name: Text100 | None = None
    posyandu_type: PosyanduType | None = None
    address: Text300 | None = None
    rt: RtRw | None = None
    rw: RtRw | None = None
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    puskesmas: Text100 | None = None
    institution: InstitutionIn | None = None
    management: list[ManagementRoleIn] | None = Field(default=None, max_length=30)

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"institution": {"sk_number": "188.4/12/KLI/2024", "sk_date": "2024-07-01"}, "rt": "014"}]
        },
    )


class EquipmentItemIn(_Command):
    item: Code = Field(description="dacin, digital_scale, height_board, muac_tape, kia_book, recording_place, ...")
    available: bool
    functional: bool | None = None

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"item": "dacin", "available": True, "functional": True}]}
    )


class AssessmentCreate(_Command):
    facility_status: FacilityStatus
    equipment: list[EquipmentItemIn] = Field(default_factory=list, max_length=50)
    photo_refs: list[Annotated[str, StringConstraints(min_length=1, max_length=300)]] = Field(
        default_factory=list, max_length=20, description="Object keys of photos"
    )
    assessed_by: Text100
    assessed_on: date
    notes: Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)] | None = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "facility_status": "resident_house",
                    "equipment": [
                        {"item": "dacin", "available": True, "functional": True},
                        {"item": "height_board", "available": False},
                    ],
                    "photo_refs": ["posyandu/melati/2026-11-02-front.jpg"],
                    "assessed_by": "Puskesmas Klandasan Ilir",
                    "assessed_on": "2026-11-02",
                }
            ]
        },
    )


class VerificationDecision(_Command):
    decision: Literal["VERIFIED", "REJECTED", "RETURNED"] = Field(
        description="RETURNED: send the pending assessment back for correction (a new assessment is awaited)"
    )
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = Field(
        default=None, description="Required for REJECTED and RETURNED"
    )
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"decision": "VERIFIED", "note": "SK and facility checked on site"},
                {"decision": "REJECTED", "reason": "no founding decree (SK) from the lurah yet"},
                {"decision": "RETURNED", "reason": "the photo of the scales is unreadable: assess again"},
            ]
        },
    )


class PosyanduClosure(_Command):
    closure: Literal["closed", "merged"]
    merged_into_posyandu_id: Uuid | None = Field(default=None, description="For a merger: the receiving Posyandu")
    reassign_to_posyandu_id: Uuid | None = Field(
        default=None, description="For a closure: where its cadres go (else they are left unassigned)"
    )
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None
    closed_on: date | None = Field(default=None, description="Effective date; today (WITA) when omitted")

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "closure": "merged",
                    "merged_into_posyandu_id": "0f8e6c3a-1b2d-4e5f-8a9b-0c1d2e3f4a5b",
                    "reason": "two Posyandu in one RW",
                    "closed_on": "2026-12-01",
                }
            ]
        },
    )


# --------------------------------------------------------------------------- search

MAX_PAGE = 1_000_000  # beyond any real list; bounds the SQL offset (a 64-bit integer)


class CadreSearch(BaseModel):
    """Search in the body, so that a NIK never appears in a URL (or an access log)."""

    nik: str | None = Field(default=None, pattern=r"^\d{16}$", description="Exact NIK")
    name: str | None = Field(default=None, min_length=1, max_length=100, description="Part of the name")
    posyandu_id: str | None = None
    kelurahan_code: str | None = None
    kecamatan_code: str | None = None
    status: str | None = Field(default=None, pattern="^(active|inactive)$")
    role: str | None = None
    page: int = Field(default=1, ge=1, le=MAX_PAGE)
    page_size: int = Field(default=50, ge=1, le=200)

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"nik": "6471015508900001"}, {"name": "siti", "status": "active"}]},
    )
