"""Response models of the HTTP API, read from the rows with `model_validate` (the request
models, `XCreate` / `XUpdate`, are the domain commands: the CSV import builds them too)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from registry.adapters.tables import CadreRow, PosyanduRow
from registry.domain.identity import mask_account, mask_email, mask_name, mask_nik, mask_phone, mask_text
from registry.domain.location import is_private_venue, shown_location
from sikader_shared.clock import utc

PII_FIELDS = ("nik", "phone", "email", "address", "payment")
# How each personal field is masked without registry:pii (validation context `unmasked`).
MASKS: dict[str, Callable[[str], str]] = {
    "nik": mask_nik,
    "phone": mask_phone,
    "email": mask_email,
    "address": mask_text,
    "account_number": mask_account,
    "account_holder": mask_name,
}
UtcTime = Annotated[datetime, AfterValidator(utc)]  # SQLite hands times back without their zone


def _masked(value: str | None, info: ValidationInfo) -> str | None:
    if value is None or (info.context or {}).get("unmasked", False):
        return value
    assert info.field_name is not None
    return MASKS[info.field_name](value)


_POSYANDU_ID = "0f8e6c3a-1b2d-4e5f-8a9b-0c1d2e3f4a5b"
_CADRE_ID = "7c1e2d3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
_AREA_EXAMPLE: dict[str, Any] = {
    "code": "64.71.06.1002",
    "name": "Klandasan Ilir",
    "posyandu": 4,
    "by_facility_status": {
        "own_building": 1,
        "resident_house": 2,
        "public_building": 1,
        "none": 0,
        "not_assessed": 0,
    },
    "by_verification_status": {"PENDING": 1, "VERIFIED": 2, "REJECTED": 1},
    "active_cadres": 14,
}


_CENTROID = "Approximate centroid (WGS84) from the wilayah data file; null when the file has none"


class KecamatanPublic(BaseModel):
    code: str
    name: str
    kelurahan_count: int
    latitude: float | None = Field(default=None, description=_CENTROID)
    longitude: float | None = Field(default=None, description=_CENTROID)

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "code": "64.71.06",
                    "name": "Balikpapan Kota",
                    "kelurahan_count": 5,
                    "latitude": -1.264,
                    "longitude": 116.843,
                }
            ]
        }
    )


class KelurahanPublic(BaseModel):
    code: str
    name: str
    kecamatan_code: str
    kecamatan_name: str
    latitude: float | None = Field(default=None, description=_CENTROID)
    longitude: float | None = Field(default=None, description=_CENTROID)

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "code": "64.71.06.1002",
                    "name": "Klandasan Ilir",
                    "kecamatan_code": "64.71.06",
                    "kecamatan_name": "Balikpapan Kota",
                    "latitude": -1.272,
                    "longitude": 116.828,
                }
            ]
        }
    )


_SHOWN_POINT = (
    "Exact, or, for a Posyandu meeting in a resident's house (or not assessed yet), snapped to a "
    "0.002 degree grid (about 200 m) unless the key has registry:pii: see location_precision"
)


def exact_location(unmasked: bool) -> dict[str, bool]:
    """The validation context of PosyanduPublic: exact points only for `registry:pii`."""
    return {"exact_location": unmasked}


class PosyanduPublic(BaseModel):
    id: str
    name: str
    kelurahan_code: str
    kecamatan_code: str
    posyandu_type: str
    address: str | None = Field(
        description="Withheld (null) where the point is withheld (a resident's house, or not assessed yet) "
        "unless the key has registry:pii: the street address would give away the house"
    )
    rt: str | None
    rw: str | None
    latitude: float | None = Field(description=_SHOWN_POINT)
    longitude: float | None = Field(description=_SHOWN_POINT)
    location_precision: Literal["exact", "approximate"] | None = Field(
        default=None, description="Of latitude/longitude; null without coordinates"
    )
    puskesmas: str | None
    institution: dict[str, Any] | None
    management: list[dict[str, Any]]
    status: str = Field(description="active / closed / merged")
    verification_status: str = Field(
        description="PENDING / VERIFIED / REJECTED / RETURNED (sent back for correction: a new assessment is awaited)"
    )
    facility_status: str | None = Field(description="Of the latest assessment; null before the first")
    latest_assessment_id: str | None
    merged_into_posyandu_id: str | None = Field(
        validation_alias=AliasChoices("merged_into_posyandu_id", "merged_into_id")
    )
    closed_on: date | None
    closure_reason: str | None
    registered_at: UtcTime
    updated_at: UtcTime

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": _POSYANDU_ID,
                    "name": "Posyandu Melati",
                    "kelurahan_code": "64.71.06.1002",
                    "kecamatan_code": "64.71.06",
                    "posyandu_type": "balita",
                    "address": "Jl. Ahmad Yani Gg. Mawar No. 3",
                    "rt": "012",
                    "rw": None,
                    "latitude": -1.268,
                    "longitude": 116.828,
                    "location_precision": "approximate",
                    "puskesmas": "Puskesmas Klandasan Ilir",
                    "institution": {"sk_number": "188.4/12/KLI/2024", "sk_date": "2024-07-01"},
                    "management": [{"role": "ketua", "cadre_id": _CADRE_ID}],
                    "status": "active",
                    "verification_status": "VERIFIED",
                    "facility_status": "resident_house",
                    "latest_assessment_id": "5d6e7f80-1a2b-4c3d-9e8f-7a6b5c4d3e2f",
                    "merged_into_posyandu_id": None,
                    "closed_on": None,
                    "closure_reason": None,
                    "registered_at": "2026-11-02T01:00:00Z",
                    "updated_at": "2026-11-05T03:00:00Z",
                }
            ]
        },
    )

    @classmethod
    def of(cls, row: PosyanduRow, exact: bool) -> PosyanduPublic:
        return cls.model_validate(row, context=exact_location(exact))

    @model_validator(mode="before")
    @classmethod
    def _from_row(cls, data: Any, info: ValidationInfo) -> Any:
        """A row's columns with the point the caller may see (approximate by default)."""
        if not isinstance(data, PosyanduRow):
            return data
        exact = bool((info.context or {}).get("exact_location", False))
        shown = shown_location(data.latitude, data.longitude, data.facility_status, exact)
        return {
            **data.model_dump(),
            "address": data.address if exact or not is_private_venue(data.facility_status) else None,
            "latitude": shown.latitude,
            "longitude": shown.longitude,
            "location_precision": shown.precision,
        }


class PosyanduPage(BaseModel):
    items: list[PosyanduPublic]
    total: int
    page: int
    page_size: int

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"items": [PosyanduPublic.model_json_schema()["examples"][0]], "total": 1, "page": 1, "page_size": 50}
            ]
        }
    )


class AssessmentPublic(BaseModel):
    id: str
    posyandu_id: str
    facility_status: str
    equipment: list[dict[str, Any]]
    photo_refs: list[str]
    assessed_by: str
    assessed_on: date
    notes: str | None
    recorded_by: str
    recorded_at: UtcTime

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "5d6e7f80-1a2b-4c3d-9e8f-7a6b5c4d3e2f",
                    "posyandu_id": _POSYANDU_ID,
                    "facility_status": "resident_house",
                    "equipment": [{"item": "dacin", "available": True, "functional": True}],
                    "photo_refs": ["posyandu/melati/front.jpg"],
                    "assessed_by": "Puskesmas Klandasan Ilir",
                    "assessed_on": "2026-11-02",
                    "notes": None,
                    "recorded_by": "dinkes",
                    "recorded_at": "2026-11-02T05:00:00Z",
                }
            ]
        },
    )


class VerificationPublic(BaseModel):
    posyandu_id: str
    assessment_id: str | None
    decision: str
    reason: str | None
    note: str | None
    decided_by: str
    decided_at: UtcTime

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "posyandu_id": _POSYANDU_ID,
                    "assessment_id": "5d6e7f80-1a2b-4c3d-9e8f-7a6b5c4d3e2f",
                    "decision": "VERIFIED",
                    "reason": None,
                    "note": "SK and facility checked on site",
                    "decided_by": "dinkes",
                    "decided_at": "2026-11-05T03:00:00Z",
                }
            ]
        },
    )


class ClosurePublic(BaseModel):
    posyandu_id: str
    status: str
    merged_into_posyandu_id: str | None
    closed_on: date
    reassigned_cadre_ids: list[str]
    unassigned_cadre_ids: list[str]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "posyandu_id": _POSYANDU_ID,
                    "status": "merged",
                    "merged_into_posyandu_id": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
                    "closed_on": "2026-12-01",
                    "reassigned_cadre_ids": [_CADRE_ID],
                    "unassigned_cadre_ids": [],
                }
            ]
        }
    )


class PaymentPublic(BaseModel):
    method: str
    bank: str | None
    account_number: str | None
    account_holder: str | None

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {"method": "bank", "bank": "BPD_KALTIMTARA", "account_number": "******5678", "account_holder": "S***"}
            ]
        },
    )

    @field_validator("account_number", "account_holder")
    @classmethod
    def _mask(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _masked(value, info)


class CadrePublic(BaseModel):
    """A cadre. NIK, contact and payment details are masked unless the key has
    `registry:pii` (and then the read is recorded in the PII read log)."""

    id: str
    nik: str
    name: str
    sex: str
    birth_date: date | None = Field(description="null without registry:pii (with the NIK it would rebuild it)")
    birth_year: int
    phone: str | None
    email: str | None
    address: str | None
    roles: list[str]
    status: str
    status_reason: str | None
    status_since: date | None
    posyandu_id: str | None
    posyandu_role: str | None
    kelurahan_code: str
    kecamatan_code: str
    joined_on: date | None
    payment: PaymentPublic | None
    registered_at: UtcTime
    updated_at: UtcTime
    pii_masked: bool

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": _CADRE_ID,
                    "nik": "**************01",
                    "name": "Siti Aminah",
                    "sex": "F",
                    "birth_date": None,
                    "birth_year": 1990,
                    "phone": "+62*********90",
                    "email": "***@***",
                    "address": "***",
                    "roles": ["posyandu_cadre", "pkk"],
                    "status": "active",
                    "status_reason": None,
                    "status_since": None,
                    "posyandu_id": _POSYANDU_ID,
                    "posyandu_role": "ketua",
                    "kelurahan_code": "64.71.06.1002",
                    "kecamatan_code": "64.71.06",
                    "joined_on": "2019-03-01",
                    "payment": {
                        "method": "bank",
                        "bank": "BPD_KALTIMTARA",
                        "account_number": "******5678",
                        "account_holder": "S***",
                    },
                    "registered_at": "2026-11-02T01:00:00Z",
                    "updated_at": "2026-11-02T01:00:00Z",
                    "pii_masked": True,
                }
            ]
        },
    )

    @classmethod
    def of(cls, row: CadreRow, unmasked: bool) -> Self:
        return cls.model_validate(row, context={"unmasked": unmasked})

    @model_validator(mode="before")
    @classmethod
    def _from_row(cls, data: Any, info: ValidationInfo) -> Any:
        """A row's columns with the birth year, the payment details as one object, and
        whether the answer is masked (the field validators mask)."""
        if not isinstance(data, CadreRow):
            return data
        payment = None
        if data.payment_method:
            payment = {
                "method": data.payment_method,
                "bank": data.payment_bank,
                "account_number": data.payment_account_number,
                "account_holder": data.payment_account_holder,
            }
        masked = not (info.context or {}).get("unmasked", False)
        return {**data.model_dump(), "birth_year": data.birth_date.year, "payment": payment, "pii_masked": masked}

    @field_validator("nik", "phone", "email", "address")
    @classmethod
    def _mask(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _masked(value, info)

    @field_validator("birth_date")
    @classmethod
    def _hide_birth_date(cls, value: date | None, info: ValidationInfo) -> date | None:
        """With the NIK, the birth date would rebuild it: only for registry:pii."""
        return value if (info.context or {}).get("unmasked", False) else None


def pii_fields(r: CadreRow) -> list[str]:
    present = {"nik": True, "phone": r.phone, "email": r.email, "address": r.address, "payment": r.payment_method}
    return [f for f in PII_FIELDS if present[f]]


class CadreListed(CadrePublic):
    """A cadre in a list (GET /cadres, POST /cadres/search): with its Posyandu's name."""

    posyandu_name: str | None = Field(None, description="The name of the cadre's Posyandu (null without one)")


class CadrePage(BaseModel):
    items: list[CadreListed]
    total: int
    page: int
    page_size: int

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [{**CadrePublic.model_json_schema()["examples"][0], "posyandu_name": "Posyandu Melati"}],
                    "total": 1,
                    "page": 1,
                    "page_size": 50,
                }
            ]
        }
    )


class AssignmentPublic(BaseModel):
    posyandu_id: str
    posyandu_role: str | None
    primary: bool = Field(validation_alias=AliasChoices("primary", "is_primary"))
    start_on: date
    end_on: date | None
    reason: str | None
    end_reason: str | None

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "posyandu_id": _POSYANDU_ID,
                    "posyandu_role": "core",
                    "primary": True,
                    "start_on": "2019-03-01",
                    "end_on": "2026-12-01",
                    "reason": "registration",
                    "end_reason": "transfer",
                }
            ]
        },
    )


class RowErrorPublic(BaseModel):
    line: int
    field: str
    reason: str

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"line": 4, "field": "phone", "reason": "not an Indonesian phone number (e.g. 0812-3456-7890)"}
            ]
        }
    )


class ImportReport(BaseModel):
    rows: int = Field(description="Data rows in the file")
    registered: int
    already_registered: int = Field(description="Rows whose cadre (NIK) or Posyandu (kelurahan + name) exists already")
    rejected: int = Field(description="Rows with at least one error; nothing of them was registered")
    registered_ids: list[dict[str, Any]] = Field(description="{line, cadre_id | posyandu_id} per registered row")
    existing: list[dict[str, Any]] = Field(description="{line, cadre_id | posyandu_id} of the rows already registered")
    errors: list[RowErrorPublic]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "rows": 3,
                    "registered": 1,
                    "already_registered": 1,
                    "rejected": 1,
                    "registered_ids": [{"line": 2, "cadre_id": _CADRE_ID}],
                    "existing": [{"line": 3, "cadre_id": "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"}],
                    "errors": [
                        {
                            "line": 4,
                            "field": "nik",
                            "reason": "the birth date in the NIK (digits 7-12) contradicts the stated birth date",
                        }
                    ],
                }
            ]
        }
    )


class AreaCounts(BaseModel):
    code: str
    name: str
    posyandu: int = Field(description="Active Posyandu")
    by_facility_status: dict[str, int] = Field(
        description="own_building / resident_house / public_building / none / not_assessed"
    )
    by_verification_status: dict[str, int] = Field(description="PENDING / VERIFIED / REJECTED")
    active_cadres: int

    model_config = ConfigDict(json_schema_extra={"examples": [_AREA_EXAMPLE]})


class KecamatanCounts(AreaCounts):
    kelurahan: list[AreaCounts]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [_AREA_EXAMPLE | {"code": "64.71.06", "name": "Balikpapan Kota", "kelurahan": [_AREA_EXAMPLE]}]
        }
    )


class MappingStatistics(BaseModel):
    region_code: str
    region_name: str
    posyandu: int
    by_facility_status: dict[str, int]
    by_verification_status: dict[str, int]
    active_cadres: int
    kecamatan: list[KecamatanCounts]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "region_code": "64.71",
                    "region_name": "Kota Balikpapan",
                    "posyandu": 1,
                    "by_facility_status": {
                        "own_building": 0,
                        "resident_house": 1,
                        "public_building": 0,
                        "none": 0,
                        "not_assessed": 0,
                    },
                    "by_verification_status": {"PENDING": 0, "VERIFIED": 1, "REJECTED": 0},
                    "active_cadres": 5,
                    "kecamatan": [
                        {
                            "code": "64.71.06",
                            "name": "Balikpapan Kota",
                            "posyandu": 1,
                            "by_facility_status": {"resident_house": 1},
                            "by_verification_status": {"VERIFIED": 1},
                            "active_cadres": 5,
                            "kelurahan": [
                                {
                                    "code": "64.71.06.1002",
                                    "name": "Klandasan Ilir",
                                    "posyandu": 1,
                                    "by_facility_status": {"resident_house": 1},
                                    "by_verification_status": {"VERIFIED": 1},
                                    "active_cadres": 5,
                                }
                            ],
                        }
                    ],
                }
            ]
        }
    )


class PosyanduFeatureProperties(BaseModel):
    id: str
    name: str
    posyandu_type: str
    kecamatan_code: str
    kecamatan_name: str | None
    kelurahan_code: str
    kelurahan_name: str | None
    status: str
    facility_status: str | None
    verification_status: str
    meets_in_residence: bool = Field(description="The latest assessment found it in a resident's house")
    location_precision: Literal["exact", "approximate"]
    location_check: Literal["ok", "far_from_kelurahan", "not_checked"] = Field(
        description="far_from_kelurahan: over 5 km from its kelurahan's centroid; not_checked: no centroid known"
    )


class PointGeometry(BaseModel):
    type: Literal["Point"]
    coordinates: list[float] = Field(description="[longitude, latitude] (WGS84)", min_length=2, max_length=2)


class PosyanduFeature(BaseModel):
    type: Literal["Feature"]
    id: str
    geometry: PointGeometry
    properties: PosyanduFeatureProperties


class PosyanduFeatureCollection(BaseModel):
    """GET /posyandu.geojson (application/geo+json)."""

    type: Literal["FeatureCollection"]
    features: list[PosyanduFeature]
    without_coordinates: int = Field(description="Posyandu matching the filters that have no coordinates")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "FeatureCollection",
                    "features": [
                        {
                            "type": "Feature",
                            "id": _POSYANDU_ID,
                            "geometry": {"type": "Point", "coordinates": [116.828, -1.268]},
                            "properties": {
                                "id": _POSYANDU_ID,
                                "name": "Posyandu Melati",
                                "posyandu_type": "balita",
                                "kecamatan_code": "64.71.06",
                                "kecamatan_name": "Balikpapan Kota",
                                "kelurahan_code": "64.71.06.1002",
                                "kelurahan_name": "Klandasan Ilir",
                                "status": "active",
                                "facility_status": "resident_house",
                                "verification_status": "VERIFIED",
                                "meets_in_residence": True,
                                "location_precision": "approximate",
                                "location_check": "ok",
                            },
                        }
                    ],
                    "without_coordinates": 3,
                }
            ]
        }
    )


class GapPublic(BaseModel):
    code: str = Field(description="no_assessment, no_sk, returned_for_correction, no_lkk_registration, ...")
    message_id: str = Field(description="In Indonesian")
    message_en: str
    blocking: bool = Field(description="true: VERIFIED is refused until it is fixed")


class InstitutionPublic(BaseModel):
    sk_number: str | None = None
    sk_date: date | None = None
    lkk_registration_number: str | None = None
    lkk_registered_on: date | None = None
    management: list[dict[str, Any]] = Field(default_factory=list)


class QueueItem(BaseModel):
    posyandu: PosyanduPublic
    latest_assessment: AssessmentPublic
    assessment_count: int
    assessments: list[AssessmentPublic] = Field(
        default_factory=list,
        description="Every assessment of the Posyandu, oldest first (as GET /posyandu/{id}/assessments)",
    )
    institution: InstitutionPublic
    missing: list[GapPublic] = Field(description="What would make VERIFIED fail (blocking), or is absent")


class VerificationQueue(BaseModel):
    items: list[QueueItem]
    total: int = Field(description="Posyandu waiting for a decision in all")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "posyandu": PosyanduPublic.model_json_schema()["examples"][0]
                            | {"verification_status": "PENDING"},
                            "latest_assessment": AssessmentPublic.model_json_schema()["examples"][0],
                            "assessment_count": 1,
                            "assessments": [AssessmentPublic.model_json_schema()["examples"][0]],
                            "institution": {
                                "sk_number": None,
                                "sk_date": None,
                                "lkk_registration_number": None,
                                "lkk_registered_on": None,
                                "management": [],
                            },
                            "missing": [
                                {
                                    "code": "no_sk",
                                    "message_id": "belum ada SK pembentukan dari lurah: "
                                    "kelembagaan tidak dapat diverifikasi",
                                    "message_en": "no founding decree (SK) recorded: "
                                    "the institution cannot be verified without it",
                                    "blocking": True,
                                }
                            ],
                        }
                    ],
                    "total": 1,
                }
            ]
        }
    )


class ImportJobPublic(BaseModel):
    """An asynchronous import (POST /imports/cadres or /imports/posyandu)."""

    id: str
    kind: Literal["cadres", "posyandu"]
    status: Literal["queued", "running", "done", "failed"]
    rows_total: int = Field(description="Data rows in the file")
    rows_done: int = Field(description="Rows imported or reported so far (committed)")
    percent: float = Field(description="rows_done / rows_total, 0-100 (100 for an empty file once done)")
    report: ImportReport | None = Field(description="When done: the synchronous import's report")
    reason: str | None = Field(description="When failed: why")
    created_at: UtcTime
    started_at: UtcTime | None
    finished_at: UtcTime | None

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "3c2b1a09-8f7e-4d6c-9b5a-4e3d2c1b0a99",
                    "kind": "cadres",
                    "status": "running",
                    "rows_total": 3000,
                    "rows_done": 1000,
                    "percent": 33.3,
                    "report": None,
                    "reason": None,
                    "created_at": "2026-11-02T01:00:00Z",
                    "started_at": "2026-11-02T01:00:01Z",
                    "finished_at": None,
                }
            ]
        },
    )

    @model_validator(mode="before")
    @classmethod
    def _progress(cls, data: Any) -> Any:
        """The progress as a percentage, and the report only once the job is done."""
        if not hasattr(data, "rows_total"):
            return data
        total, done = data.rows_total, data.rows_done
        percent = 100.0 if total == 0 and data.status == "done" else round(100 * done / total, 1) if total else 0.0
        fields = ("id", "kind", "status", "rows_total", "rows_done", "reason", "created_at", "started_at")
        return {
            **{f: getattr(data, f) for f in fields},
            "finished_at": data.finished_at,
            "percent": percent,
            "report": data.report if data.status == "done" else None,
        }
