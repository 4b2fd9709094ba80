"""Events of the certification service on `sikader.certification.v1` (key `cadre_id`).

Every certificate event carries the certificate's id, number, level, its status after the
event and its expiry date, so a consumer (incentives, notifications) can keep a projection
of certificates from any one of them. A deactivated cadre's certificate is suspended
(CertificateSuspended); when the cadre is reactivated it is restored by a CertificateRenewed
with `basis = "reactivation"` and `status = "valid"`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field

from sikader_shared import topics
from sikader_shared.events.base import Event, register

Level = Literal["Purwa", "Madya", "Utama"]
"""Cadre competency levels (Kemenkes), lowest first."""

CertificateStatus = Literal["valid", "suspended", "superseded", "expired", "revoked"]

RenewalBasis = Literal["reassessment", "refresher_training", "reactivation"]


class _CertificationEvent(Event):
    service = "certification"
    topic = topics.CERTIFICATION
    aggregate_field = "cadre_id"

    cadre_id: str = Field(description="Cadre id (UUID), as in the registry's events")
    kelurahan_code: str | None = Field(
        default=None, description="The cadre's kelurahan (Kemendagri code), for area filters"
    )
    kecamatan_code: str | None = Field(
        default=None, description="The cadre's kecamatan (Kemendagri code), for area filters"
    )


@register
class TrainingCompleted(_CertificationEvent):
    """The cadre attended a training to its end."""

    event_name = "TrainingCompleted"

    training_id: str = Field(description="Training id (UUID)")
    title: str = Field(description="Title of the training")
    organiser: str = Field(description="Organising OPD (client id), e.g. 'dinkes'")
    skill_codes: list[str] = Field(
        default_factory=list, description="Catalogue codes of the skills the training covered"
    )
    started_on: date
    completed_on: date
    place: str | None = Field(default=None, description="Venue, e.g. 'Aula Puskesmas Damai'")
    refresher: bool = Field(default=False, description="A refresher training (can renew a certificate)")


@register
class SkillAssessed(_CertificationEvent):
    """An assessor assessed one skill; a pass is a skill badge (tanda kecakapan)."""

    event_name = "SkillAssessed"

    assessment_id: str = Field(description="Assessment id (UUID)")
    skill_code: str = Field(description="Skill catalogue code")
    skill_group: str | None = Field(default=None, description="Code of the skill's group (1-5)")
    catalogue_version: str | None = Field(
        default=None, description="Version of the skill catalogue the code belongs to"
    )
    passed: bool = Field(description="Whether the skill was passed (a pass is a badge)")
    badge_id: str | None = Field(default=None, description="The badge awarded, when passed")
    assessor: str = Field(description="Assessing unit, e.g. 'Puskesmas Klandasan Ilir'")
    assessed_on: date


class _CertificateEvent(_CertificationEvent):
    certificate_id: str = Field(description="Certificate id (UUID)")
    certificate_number: str = Field(
        description="Unique human-readable certificate number (used by public verification)"
    )
    level: Level = Field(description="Level of this certificate: Purwa, Madya or Utama")
    status: CertificateStatus = Field(description="The certificate's status after this event")
    expires_on: date = Field(description="The certificate's expiry date after this event")


@register
class CadreCertified(_CertificateEvent):
    """A certificate was issued: the cadre reached a level (first time, or a higher one)."""

    event_name = "CadreCertified"

    cadre_name: str = Field(description="Holder's name as printed on the certificate")
    skill_codes: list[str] = Field(default_factory=list, description="Skill badges the certificate is based on")
    issued_on: date
    issuer: str = Field(description="Issuing authority, e.g. 'Dinas Kesehatan Kota Balikpapan'")
    supersedes_certificate_id: str | None = Field(
        default=None, description="The lower-level certificate this one replaces"
    )
    level_policy_version: str | None = Field(default=None, description="Version of the level rules that gave the level")
    verify_url: str | None = Field(
        default=None, description="Public verification URL (also in the certificate's QR code)"
    )


@register
class CertificateSuperseded(_CertificateEvent):
    """A certificate was replaced by a new one at a higher level."""

    event_name = "CertificateSuperseded"

    superseded_by_certificate_id: str = Field(description="The new certificate (UUID)")
    superseded_by_number: str = Field(description="Number of the new certificate")
    new_level: Level = Field(description="Level of the new certificate")
    superseded_on: date


@register
class CertificateSuspended(_CertificateEvent):
    """A certificate was suspended, e.g. because its holder was deactivated."""

    event_name = "CertificateSuspended"

    reason: str = Field(description="e.g. 'cadre_deactivated'")
    suspended_on: date


@register
class CertificateRenewed(_CertificateEvent):
    """A certificate is valid again or for longer: extended after a re-assessment or a
    refresher training, or restored after the holder's reactivation."""

    event_name = "CertificateRenewed"

    basis: RenewalBasis = Field(description="'reactivation' restores a suspended certificate (validity unchanged)")
    previous_expires_on: date = Field(description="Expiry date before this renewal")
    renewed_on: date
    training_id: str | None = Field(default=None, description="The refresher training, if any")


@register
class CertificateExpiring(_CertificateEvent):
    """Announced ahead (by default 30 days) of a certificate's expiry."""

    event_name = "CertificateExpiring"

    days_left: int = Field(ge=0, description="Days from the announcement to expires_on")


@register
class CertificateExpired(_CertificateEvent):
    """A certificate reached its expiry date."""

    event_name = "CertificateExpired"

    expired_on: date


@register
class CertificateRevoked(_CertificateEvent):
    """A certificate was revoked (permanent)."""

    event_name = "CertificateRevoked"

    reason: str = Field(description="Why the certificate was revoked")
    revoked_by: str = Field(description="OPD client that revoked (as in ce_actor)")
    revoked_at: datetime
