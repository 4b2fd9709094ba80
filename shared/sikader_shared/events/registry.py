"""Events of the registry service.

Topics:
- `sikader.registry.posyandu.v1` (key `posyandu_id`): Posyandu institutions, facility
  assessments, verification, closure and merger.
- `sikader.registry.cadre.v1` (key `cadre_id`): the cadre register without NIK, contact or
  payment details: name, roles, area, primary Posyandu, status.
- `sikader.registry.cadre-private.v1` (key `cadre_id`, restricted): contact and payment
  details, each value a Fernet token (see `sikader_shared.crypto`).

Privacy (UU 27/2022, CONTRACT.md): no NIK on any topic; no phone number, email, address or
account number outside the private topic, and there only encrypted. A Posyandu's street
address and coordinates are not published either: many Posyandu meet in a resident's house.
Snapshot events (`...Registered`, `...Updated`) carry the whole public state of the aggregate
after the change, so a consumer can upsert without having seen earlier events.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sikader_shared import topics
from sikader_shared.events.base import Event, register

PosyanduType = Literal["balita", "lansia", "remaja", "ILP"]
"""balita = toddlers, lansia = elderly, remaja = youth, ILP = Integrasi Layanan Primer."""

PosyanduStatus = Literal["active", "closed", "merged"]

VerificationStatus = Literal["PENDING", "VERIFIED", "REJECTED"]
"""PENDING = not (or, after a new assessment, not yet again) verified."""

FacilityStatus = Literal["own_building", "resident_house", "public_building", "none"]
"""Where the Posyandu meets: its own building, a resident's house (menumpang di rumah
warga), a public building (balai RT/kelurahan, place of worship, school), or nowhere fixed."""

CadreStatus = Literal["active", "inactive"]

PaymentMethod = Literal["bank", "e_wallet"]

KELURAHAN_CODE_DESC = "Kemendagri code of the kelurahan, e.g. '64.71.01.1001' (Balikpapan = 64.71)"
KECAMATAN_CODE_DESC = "Kemendagri code of the kecamatan, e.g. '64.71.01'"
CONTACT_ENC_DESC = "Fernet token (see sikader_shared.crypto); readable only by services holding the contact key"
PAYMENT_ENC_DESC = "Fernet token (see sikader_shared.crypto); readable only by services holding the payment key"


class _Part(BaseModel):
    """A nested value inside an event body."""

    model_config = ConfigDict(extra="ignore", frozen=True)


# --------------------------------------------------------------------------- Posyandu


class PosyanduInstitution(_Part):
    """The Posyandu as a kelurahan community institution (LKK, Permendagri 13/2024)."""

    sk_number: str | None = Field(default=None, description="Number of the lurah's founding decree (SK pembentukan)")
    sk_date: date | None = Field(default=None, description="Date of the founding decree")
    lkk_registration_number: str | None = Field(
        default=None, description="Registration number as a kelurahan institution (LKK)"
    )
    lkk_registered_on: date | None = Field(default=None, description="Date of registration as a kelurahan institution")


class ManagementRole(_Part):
    """One management position of the Posyandu (ketua, sekretaris, bendahara...)."""

    role: str = Field(description="Role code, e.g. 'ketua', 'sekretaris', 'bendahara'")
    cadre_id: str | None = Field(
        default=None, description="The cadre holding the role (UUID), if the holder is a cadre"
    )


class EquipmentItem(_Part):
    """One line of the facility assessment's equipment checklist."""

    item: str = Field(
        description="Checklist item code, e.g. 'dacin', 'digital_scale', 'height_board', "
        "'muac_tape', 'kia_book', 'recording_place'"
    )
    available: bool
    functional: bool | None = Field(default=None, description="Whether the available item works; None when not checked")


class _PosyanduEvent(Event):
    service = "registry"
    topic = topics.POSYANDU
    aggregate_field = "posyandu_id"

    posyandu_id: str = Field(description="Posyandu id (UUID)")
    kelurahan_code: str = Field(description=KELURAHAN_CODE_DESC)
    kecamatan_code: str = Field(description=KECAMATAN_CODE_DESC)


class _PosyanduSnapshot(_PosyanduEvent):
    name: str = Field(description="Name of the Posyandu, e.g. 'Posyandu Melati'")
    posyandu_type: PosyanduType = Field(description="balita / lansia / remaja / ILP")
    rt: str | None = Field(default=None, description="Rukun Tetangga number, e.g. '012'")
    rw: str | None = Field(default=None, description="Rukun Warga number, if used")
    status: PosyanduStatus = Field(description="Institution status after this event")
    verification_status: VerificationStatus = Field(
        description="Verification state (facility and institution) after this event"
    )
    facility_status: FacilityStatus | None = Field(
        default=None, description="Facility status of the latest assessment; None before the first"
    )
    institution: PosyanduInstitution | None = Field(
        default=None, description="Founding decree and registration as a kelurahan institution"
    )
    management: list[ManagementRole] = Field(default_factory=list, description="Management positions and their holders")
    puskesmas: str | None = Field(default=None, description="Supervising Puskesmas (name or code), where known")


@register
class PosyanduRegistered(_PosyanduSnapshot):
    """A Posyandu was registered. Carries its whole public state."""

    event_name = "PosyanduRegistered"

    registered_at: datetime


@register
class PosyanduUpdated(_PosyanduSnapshot):
    """A Posyandu's data changed. Carries its whole public state after the change."""

    event_name = "PosyanduUpdated"

    changed: list[str] = Field(default_factory=list, description="Names of the fields of this event that changed")
    updated_at: datetime


@register
class PosyanduFacilityAssessed(_PosyanduEvent):
    """A facility assessment was recorded (kept as history; a new one calls for
    re-verification)."""

    event_name = "PosyanduFacilityAssessed"

    assessment_id: str = Field(description="Assessment id (UUID)")
    facility_status: FacilityStatus = Field(description="Where the Posyandu meets")
    equipment: list[EquipmentItem] = Field(
        default_factory=list, description="Equipment checklist (scales, boards, MUAC tape...)"
    )
    photo_refs: list[str] = Field(
        default_factory=list, description="References (object keys) of the assessment's photos"
    )
    assessed_by: str = Field(description="Assessor as recorded, e.g. 'Puskesmas Klandasan Ilir' or a staff name")
    assessed_on: date
    verification_status: VerificationStatus = Field(
        description="The Posyandu's verification state after this assessment"
    )


@register
class PosyanduFacilityVerified(_PosyanduEvent):
    """The Posyandu's facility and institution were verified (VERIFIED)."""

    event_name = "PosyanduFacilityVerified"

    name: str = Field(description="Name of the Posyandu")
    assessment_id: str | None = Field(default=None, description="The facility assessment this verification covers")
    facility_status: FacilityStatus | None = Field(
        default=None, description="Facility status of the verified assessment"
    )
    verified_by: str = Field(description="OPD client that verified (as in ce_actor)")
    verified_at: datetime
    note: str | None = Field(default=None, description="Verifier's remark, if any")


@register
class PosyanduFacilityRejected(_PosyanduEvent):
    """Verification was refused (REJECTED), with a reason."""

    event_name = "PosyanduFacilityRejected"

    name: str = Field(description="Name of the Posyandu")
    assessment_id: str | None = Field(default=None, description="The facility assessment this decision covers")
    facility_status: FacilityStatus | None = Field(
        default=None, description="Facility status of the rejected assessment"
    )
    reason: str = Field(description="Why verification was refused")
    rejected_by: str = Field(description="OPD client that rejected (as in ce_actor)")
    rejected_at: datetime


@register
class PosyanduFacilityReturned(_PosyanduEvent):
    """The latest facility assessment was sent back for correction, with a reason: the
    Posyandu waits for a new assessment before it is decided again. It is not verified
    meanwhile; the snapshot events (PosyanduUpdated) carry its verification_status as
    PENDING, so a consumer that ignores this event stays right."""

    event_name = "PosyanduFacilityReturned"

    name: str = Field(description="Name of the Posyandu")
    assessment_id: str | None = Field(default=None, description="The facility assessment sent back")
    facility_status: FacilityStatus | None = Field(
        default=None, description="Facility status of the assessment sent back"
    )
    reason: str = Field(description="What is to be corrected")
    note: str | None = Field(default=None, description="Verifier's remark, if any")
    decided_by: str = Field(description="OPD client that sent it back (as in ce_actor)")
    decided_at: datetime


@register
class PosyanduClosed(_PosyanduEvent):
    """The Posyandu was closed, or merged into another one. Its cadres' reassignments
    follow as CadreAssigned events."""

    event_name = "PosyanduClosed"

    name: str = Field(description="Name of the Posyandu")
    closure: Literal["closed", "merged"] = Field(description="'merged' when absorbed by merged_into_posyandu_id")
    merged_into_posyandu_id: str | None = Field(
        default=None, description="The Posyandu it was merged into (UUID), for a merger"
    )
    reason: str | None = None
    closed_on: date = Field(description="Effective date of the closure or merger")
    reassigned_cadre_ids: list[str] = Field(
        default_factory=list, description="Cadres moved to another Posyandu because of it"
    )


# --------------------------------------------------------------------------- cadres


class _CadreEvent(Event):
    service = "registry"
    topic = topics.CADRE
    aggregate_field = "cadre_id"

    cadre_id: str = Field(description="Cadre id (UUID); never the NIK")
    kelurahan_code: str = Field(
        description=KELURAHAN_CODE_DESC + "; where the cadre serves (the primary Posyandu's kelurahan)"
    )
    kecamatan_code: str = Field(description=KECAMATAN_CODE_DESC)


class _CadreSnapshot(_CadreEvent):
    name: str = Field(description="Full name (shown on certificates)")
    roles: list[str] = Field(
        default_factory=list,
        description="Role codes, e.g. 'posyandu_cadre', 'pkk', 'child_protection', 'social_worker'",
    )
    status: CadreStatus = Field(description="Status after this event")
    posyandu_id: str | None = Field(default=None, description="Primary Posyandu (UUID); None if not assigned to one")
    posyandu_role: str | None = Field(
        default=None, description="Role at the primary Posyandu, e.g. 'ketua' (head cadre), 'core'"
    )
    joined_on: date | None = Field(default=None, description="Since when the cadre serves (tenure), where known")


@register
class CadreRegistered(_CadreSnapshot):
    """A cadre was registered. Carries the public part of the record only."""

    event_name = "CadreRegistered"

    registered_at: datetime


@register
class CadreUpdated(_CadreSnapshot):
    """A cadre's public data changed. Carries the whole public state after the change.
    Contact and payment changes are published on the private topic instead."""

    event_name = "CadreUpdated"

    changed: list[str] = Field(default_factory=list, description="Names of the fields of this event that changed")
    updated_at: datetime


@register
class CadreAssigned(_CadreEvent):
    """The cadre was assigned (or transferred) to a Posyandu. kelurahan_code and
    kecamatan_code are the new Posyandu's."""

    event_name = "CadreAssigned"

    posyandu_id: str = Field(description="The Posyandu assigned to (UUID)")
    primary: bool = Field(default=True, description="Whether this is the primary assignment")
    previous_posyandu_id: str | None = Field(default=None, description="The previous primary Posyandu, for a transfer")
    posyandu_role: str | None = Field(
        default=None, description="Role at the Posyandu, e.g. 'ketua' (head cadre), 'core'"
    )
    assigned_on: date = Field(description="Effective date of the assignment")
    reason: str | None = Field(default=None, description="e.g. 'transfer', 'posyandu_merged', 'posyandu_closed'")


@register
class CadreDeactivated(_CadreEvent):
    """The cadre became inactive."""

    event_name = "CadreDeactivated"

    posyandu_id: str | None = Field(default=None, description="Primary Posyandu at the time")
    reason: str = Field(description="Why, e.g. 'moved away', 'resigned'")
    effective_on: date = Field(description="Date from which the status change applies")


@register
class CadreReactivated(_CadreEvent):
    """An inactive cadre became active again."""

    event_name = "CadreReactivated"

    posyandu_id: str | None = Field(default=None, description="Primary Posyandu at the time")
    reason: str | None = None
    effective_on: date = Field(description="Date from which the status change applies")


# --------------------------------------------------------------------------- private


class _CadrePrivateEvent(Event):
    service = "registry"
    topic = topics.CADRE_PRIVATE
    aggregate_field = "cadre_id"

    cadre_id: str = Field(description="Cadre id (UUID); never the NIK")
    key_id: str = Field(description="Id of the key that encrypted the *_enc fields (allows key rotation)")
    changed_at: datetime


@register
class CadreContactChanged(_CadrePrivateEvent):
    """The cadre's contact details after the change, each encrypted with the contact key.
    A None field means the cadre has no such detail on record."""

    event_name = "CadreContactChanged"

    phone_enc: str | None = Field(default=None, description=CONTACT_ENC_DESC + ". Plaintext: phone in +62 form")
    email_enc: str | None = Field(default=None, description=CONTACT_ENC_DESC)
    address_enc: str | None = Field(default=None, description=CONTACT_ENC_DESC)


@register
class CadrePaymentDetailsChanged(_CadrePrivateEvent):
    """The cadre's payment details after the change, each encrypted with the payment key.
    All None: the cadre has no payment details on record any more."""

    event_name = "CadrePaymentDetailsChanged"

    method: PaymentMethod | None = Field(
        default=None, description="Bank transfer or e-wallet; None when details were removed"
    )
    bank_enc: str | None = Field(
        default=None, description=PAYMENT_ENC_DESC + ". Plaintext: bank or e-wallet provider code"
    )
    account_number_enc: str | None = Field(
        default=None,
        description=PAYMENT_ENC_DESC + ". Plaintext: account number or e-wallet number",
    )
    account_holder_enc: str | None = Field(
        default=None, description=PAYMENT_ENC_DESC + ". Plaintext: name of the account holder"
    )
