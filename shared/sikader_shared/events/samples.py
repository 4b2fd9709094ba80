"""One realistic sample of every event type of the contract (Balikpapan data), valid against
its model and its published JSON Schema, with the CloudEvents headers it would travel with.

The AsyncAPI documents take their examples from here, as do docs/events.md and
docs/integration.md, so an example cannot drift from the contract: a model change that makes a
sample invalid fails the contract tests.

    sample(CadreCertified)          # -> the CadreCertified instance
    samples()                       # -> {model: instance} for every registered model
    sample_message(CadreCertified)  # -> SampleMessage(key, headers, body)
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sikader_shared.envelope import Envelope
from sikader_shared.events import EVENT_MODELS
from sikader_shared.events.auth import ApiKeyIssued, ApiKeyRevoked
from sikader_shared.events.base import Event
from sikader_shared.events.certification import (
    CadreCertified,
    CertificateExpired,
    CertificateExpiring,
    CertificateRenewed,
    CertificateRevoked,
    CertificateSuperseded,
    CertificateSuspended,
    SkillAssessed,
    TrainingCompleted,
)
from sikader_shared.events.incentives import (
    IncentiveEligibilityChanged,
    IncentivePaymentRecorded,
    IncentivePeriodApproved,
    IncentivePeriodCalculated,
    IncentivePeriodClosed,
)
from sikader_shared.events.notifications import NotificationDelivered, NotificationFailed
from sikader_shared.events.registry import (
    CadreAssigned,
    CadreContactChanged,
    CadreDeactivated,
    CadrePaymentDetailsChanged,
    CadreReactivated,
    CadreRegistered,
    CadreUpdated,
    PosyanduClosed,
    PosyanduFacilityAssessed,
    PosyanduFacilityRejected,
    PosyanduFacilityReturned,
    PosyanduFacilityVerified,
    PosyanduRegistered,
    PosyanduUpdated,
)
from sikader_shared.topics import SERVICES

# The people and places of the samples: Kelurahan Klandasan Ilir, Kecamatan Balikpapan Kota.
KELURAHAN, KECAMATAN = "64.71.06.1002", "64.71.06"  # (registry/data/wilayah/6471.json)
POSYANDU_ID = "0f5c2a6e-3b1d-4c8e-9a47-5d2e8b1c7f30"
OTHER_POSYANDU_ID = "6a1e9d24-7c3b-4f85-b0d2-19e4c8a5f6b7"
CADRE_ID = "3d7f1b92-5e4a-4c6d-8b19-a2f0c3e5d741"
HEAD_CADRE_ID = "9b2c4e61-8a7d-4f3e-a5c0-7e1d2b9f4a86"
CERTIFICATE_ID = "c41a7e3b-2d9f-4b58-9e06-8f3a1c5d7b24"
NEW_CERTIFICATE_ID = "e8d2b5c1-6f4a-4e97-8c3b-0a9f7d1e2c53"
TRAINING_ID = "5b8e2f71-9c4d-4a36-b1e8-3f6d0a7c9e12"
ASSESSMENT_ID = "a7c3e9f5-1b2d-4e8a-9f6c-4d0b8e2a7c31"
NOTIFICATION_ID = "2e9a6c4f-8d1b-4f73-a5e2-6c8b0d3f9a47"
SUBSCRIPTION_ID = "7f4d1a8c-3e6b-4c92-8a5f-1b7e9d2c6a03"
SOURCE_EVENT_ID = "f1c8a3e7-5b2d-4d69-9e4a-8c7f0b6d2e15"
CERT_NUMBER, NEW_CERT_NUMBER = "SKD/6471/2026/PURWA/000123", "SKD/6471/2026/MADYA/000045"
ISSUER = "Dinas Kesehatan Kota Balikpapan"
PUSKESMAS = "Puskesmas Klandasan Ilir"
AT = datetime(2026, 11, 2, 1, 30, tzinfo=UTC)  # 09:30 WITA
# Fernet tokens as the private topic carries them (made with a throw-away key; undecryptable).
_FERNET = (
    "gAAAAABnKx3QpV1mYk0Hq8Zt2W7cE9rJf4LsN6uDbA0xGiTvR5oPwM3yKeUhF1jC8dXnS2aZlB7qI9gO4tV6"
    "wE0rY3uP5sD8fH1jK2lZ7xC4vB9nM6qW"
)
_REASONS = [
    {
        "rule": "cadre_active",
        "passed": True,
        "fact": "cadre active since 2019-03-01",
        "fact_id": "kader aktif sejak 2019-03-01",
    },
    {
        "rule": "certificate_valid",
        "passed": True,
        "fact": f"certificate {CERT_NUMBER} (Purwa) valid until 2029-11-01",
        "fact_id": f"sertifikat {CERT_NUMBER} (Purwa) berlaku sampai 2029-11-01",
        "source_event_ids": [SOURCE_EVENT_ID],
    },
    {
        "rule": "posyandu_verified",
        "passed": True,
        "fact": "Posyandu Melati verified on 2026-10-20",
        "fact_id": "Posyandu Melati terverifikasi pada 2026-10-20",
    },
]
_POSYANDU = {"posyandu_id": POSYANDU_ID, "kelurahan_code": KELURAHAN, "kecamatan_code": KECAMATAN}
_POSYANDU_STATE = {
    **_POSYANDU,
    "name": "Posyandu Melati",
    "posyandu_type": "balita",
    "rt": "012",
    "status": "active",
    "verification_status": "VERIFIED",
    "facility_status": "public_building",
    "institution": {
        "sk_number": "188.4/45/KEL-KI/2019",
        "sk_date": "2019-02-11",
        "lkk_registration_number": "LKK/6471/06/0031",
        "lkk_registered_on": "2019-04-02",
    },
    "management": [
        {"role": "ketua", "cadre_id": HEAD_CADRE_ID},
        {"role": "sekretaris", "cadre_id": CADRE_ID},
        {"role": "bendahara"},
    ],
    "puskesmas": PUSKESMAS,
}
_CADRE = {"cadre_id": CADRE_ID, "kelurahan_code": KELURAHAN, "kecamatan_code": KECAMATAN}
_CADRE_STATE = {
    **_CADRE,
    "name": "Siti Rahmawati",
    "roles": ["posyandu_cadre", "pkk"],
    "status": "active",
    "posyandu_id": POSYANDU_ID,
    "posyandu_role": "core",
    "joined_on": "2019-03-01",
}
_CERTIFICATE = {
    **_CADRE,
    "certificate_id": CERTIFICATE_ID,
    "certificate_number": CERT_NUMBER,
    "level": "Purwa",
    "status": "valid",
    "expires_on": "2029-11-01",
}
_NOTIFICATION = {
    "notification_id": NOTIFICATION_ID,
    "source_event_id": SOURCE_EVENT_ID,
    "source_event_type": "sikader.certification.CadreCertified.v1",
    "channel": "webhook",
    "recipient_type": "subscription",
    "recipient_id": SUBSCRIPTION_ID,
    "subscription_id": SUBSCRIPTION_ID,
    "template": "cadre_certified",
    "attempts": 1,
}
_PERIOD_TOTALS = {"period": "2026-10", "policy_version": "2026.1", "eligible_cadres": 2412, "total_amount": 723_600_000}
_HASH = "9f2c6b1e4a7d3c8b5e0f2a9d6c1b4e7a3f8d2c5b9e6a1d4c7f0b3e8a2d5c9f61"

_FIELDS: dict[type[Event], dict[str, Any]] = {
    PosyanduRegistered: {
        **_POSYANDU_STATE,
        "verification_status": "PENDING",
        "facility_status": None,
        "registered_at": AT,
    },
    PosyanduUpdated: {**_POSYANDU_STATE, "changed": ["rt", "puskesmas"], "updated_at": AT},
    PosyanduFacilityAssessed: {
        **_POSYANDU,
        "assessment_id": ASSESSMENT_ID,
        "facility_status": "public_building",
        "equipment": [
            {"item": "dacin", "available": True, "functional": True},
            {"item": "height_board", "available": True, "functional": False},
            {"item": "muac_tape", "available": False},
        ],
        "photo_refs": ["posyandu/0f5c2a6e/assessments/a7c3e9f5/1.jpg"],
        "assessed_by": PUSKESMAS,
        "assessed_on": "2026-10-15",
        "verification_status": "PENDING",
    },
    PosyanduFacilityVerified: {
        **_POSYANDU,
        "name": "Posyandu Melati",
        "assessment_id": ASSESSMENT_ID,
        "facility_status": "public_building",
        "verified_by": "dinkes",
        "verified_at": AT,
        "note": "Balai RT 12 layak dipakai",
    },
    PosyanduFacilityRejected: {
        **_POSYANDU,
        "name": "Posyandu Melati",
        "assessment_id": ASSESSMENT_ID,
        "facility_status": "none",
        "reason": "no fixed place to meet; dacin missing",
        "rejected_by": "dinkes",
        "rejected_at": AT,
    },
    PosyanduFacilityReturned: {
        **_POSYANDU,
        "name": "Posyandu Melati",
        "assessment_id": ASSESSMENT_ID,
        "facility_status": "resident_house",
        "reason": "foto timbangan dacin tidak terbaca; lampirkan SK pembentukan",
        "note": None,
        "decided_by": "dinkes",
        "decided_at": AT,
    },
    PosyanduClosed: {
        **_POSYANDU,
        "name": "Posyandu Melati",
        "closure": "merged",
        "merged_into_posyandu_id": OTHER_POSYANDU_ID,
        "reason": "merged with Posyandu Mawar (same RW)",
        "closed_on": "2026-11-01",
        "reassigned_cadre_ids": [CADRE_ID, HEAD_CADRE_ID],
    },
    CadreRegistered: {**_CADRE_STATE, "registered_at": AT},
    CadreUpdated: {
        **_CADRE_STATE,
        "roles": ["posyandu_cadre", "pkk", "child_protection"],
        "changed": ["roles"],
        "updated_at": AT,
    },
    CadreAssigned: {
        **_CADRE,
        "posyandu_id": OTHER_POSYANDU_ID,
        "previous_posyandu_id": POSYANDU_ID,
        "posyandu_role": "core",
        "assigned_on": "2026-11-01",
        "reason": "posyandu_merged",
    },
    CadreDeactivated: {**_CADRE, "posyandu_id": POSYANDU_ID, "reason": "moved away", "effective_on": "2026-11-01"},
    CadreReactivated: {
        **_CADRE,
        "posyandu_id": POSYANDU_ID,
        "reason": "returned to Klandasan Ilir",
        "effective_on": "2026-11-15",
    },
    CadreContactChanged: {
        "cadre_id": CADRE_ID,
        "key_id": "contact-2026-01",
        "changed_at": AT,
        "phone_enc": _FERNET,
        "email_enc": None,
        "address_enc": _FERNET,
    },
    CadrePaymentDetailsChanged: {
        "cadre_id": CADRE_ID,
        "key_id": "payment-2026-01",
        "changed_at": AT,
        "method": "bank",
        "bank_enc": _FERNET,
        "account_number_enc": _FERNET,
        "account_holder_enc": _FERNET,
    },
    TrainingCompleted: {
        **_CADRE,
        "training_id": TRAINING_ID,
        "title": "Pelatihan Kader Posyandu Dasar",
        "organiser": "dinkes",
        "skill_codes": ["1.1", "1.2", "2.1"],
        "started_on": "2026-10-05",
        "completed_on": "2026-10-07",
        "place": "Aula Puskesmas Klandasan Ilir",
    },
    SkillAssessed: {
        **_CADRE,
        "assessment_id": ASSESSMENT_ID,
        "skill_code": "2.1",
        "skill_group": "2",
        "catalogue_version": "2023",
        "passed": True,
        "badge_id": "b3e1f7a9-4c2d-4e86-9a5b-7d0c3f8e1a24",
        "assessor": PUSKESMAS,
        "assessed_on": "2026-10-20",
    },
    CadreCertified: {
        **_CERTIFICATE,
        "cadre_name": "Siti Rahmawati",
        "skill_codes": ["1.1", "1.2", "2.1", "3.4", "5.2"],
        "issued_on": "2026-11-01",
        "issuer": ISSUER,
        "level_policy_version": "2023.1",
        "verify_url": "https://sikader.balikpapan.go.id/verify/SKD-6471-2026-PURWA-000123",
    },
    CertificateSuperseded: {
        **_CERTIFICATE,
        "status": "superseded",
        "superseded_by_certificate_id": NEW_CERTIFICATE_ID,
        "superseded_by_number": NEW_CERT_NUMBER,
        "new_level": "Madya",
        "superseded_on": "2027-06-01",
    },
    CertificateSuspended: {
        **_CERTIFICATE,
        "status": "suspended",
        "reason": "cadre_deactivated",
        "suspended_on": "2026-11-01",
    },
    CertificateRenewed: {
        **_CERTIFICATE,
        "expires_on": "2032-11-01",
        "basis": "refresher_training",
        "previous_expires_on": "2029-11-01",
        "renewed_on": "2029-10-10",
        "training_id": TRAINING_ID,
    },
    CertificateExpiring: {**_CERTIFICATE, "days_left": 30},
    CertificateExpired: {**_CERTIFICATE, "status": "expired", "expired_on": "2029-11-01"},
    CertificateRevoked: {
        **_CERTIFICATE,
        "status": "revoked",
        "reason": "certificate obtained with falsified training records",
        "revoked_by": "dinkes",
        "revoked_at": AT,
    },
    IncentiveEligibilityChanged: {
        "cadre_id": CADRE_ID,
        "period": "2026-10",
        "eligible": True,
        "amount": 300_000,
        "policy_version": "2026.1",
        "reasons": _REASONS,
        "level": "Purwa",
        "posyandu_id": POSYANDU_ID,
        "kelurahan_code": KELURAHAN,
        "kecamatan_code": KECAMATAN,
        "previous_eligible": False,
        "previous_amount": 0,
        "decided_at": AT,
    },
    IncentivePeriodCalculated: {
        **_PERIOD_TOTALS,
        "decision_hash": _HASH,
        "cadres_evaluated": 2650,
        "budget_ceiling": 800_000_000,
        "totals_by_kecamatan": [
            {"kecamatan_code": "64.71.06", "eligible_cadres": 402, "total_amount": 120_600_000},
            {"kecamatan_code": "64.71.01", "eligible_cadres": 455, "total_amount": 136_500_000},
        ],
        "calculated_by": "dinkes",
        "calculated_at": AT,
    },
    IncentivePeriodApproved: {
        **_PERIOD_TOTALS,
        "decision_hash": _HASH,
        "calculated_by": "dinkes",
        "approved_by": "bpkad",
        "approved_at": AT,
    },
    IncentivePaymentRecorded: {
        "cadre_id": CADRE_ID,
        "period": "2026-10",
        "payment_reference": "BPP-2026-10-000123",
        "amount": 300_000,
        "result": "paid",
        "paid_on": "2026-11-10",
        "batch_id": "batch-2026-10-01",
        "recorded_at": AT,
    },
    IncentivePeriodClosed: {
        "period": "2026-10",
        "decision_hash": _HASH,
        "paid_cadres": 2409,
        "paid_amount": 722_700_000,
        "failed_cadres": 3,
        "closed_by": "bpkad",
        "closed_at": AT,
    },
    NotificationDelivered: {**_NOTIFICATION, "delivered_at": AT},
    NotificationFailed: {
        **_NOTIFICATION,
        "attempts": 8,
        "reason": "HTTP 503 from the subscriber after 8 attempts",
        "failed_at": AT,
    },
    ApiKeyIssued: {
        "key_id": "sk_dinkes_4f2a",
        "client_id": "dinkes",
        "key_hash": _HASH,
        "scopes": ["registry:read", "certification:read"],
        "label": "Dashboard Dinkes",
        "issued_at": AT,
    },
    ApiKeyRevoked: {"key_id": "sk_dinkes_4f2a", "client_id": "dinkes", "revoked_at": AT, "reason": "staff member left"},
}

ACTORS: dict[str, str] = {"registry": "disdukcapil", "certification": "dinkes", "incentives": "dinkes"}


@dataclass(frozen=True)
class SampleMessage:
    """A sample as it travels on Kafka: key, CloudEvents binary-mode headers, JSON body."""

    key: str
    headers: dict[str, str]
    body: dict[str, Any]


def sample(model: type[Event]) -> Event:
    """The sample instance of `model` (a KeyError names a model without one)."""
    try:
        fields = _FIELDS[model]
    except KeyError:
        raise KeyError(f"no sample for {model.ce_type()}: add one to sikader_shared.events.samples") from None
    return model.model_validate(fields)


def samples() -> dict[type[Event], Event]:
    """A sample of every registered event model, in the catalogue's order."""
    return {model: sample(model) for model in EVENT_MODELS.values()}


def sample_message(model: type[Event]) -> SampleMessage:
    """The sample as a Kafka message, with deterministic ids (uuid5 of the type). An auth event
    comes from the service whose CLI issued the key: registry here."""
    event = sample(model)
    event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:sikader:sample:{model.ce_type()}"))
    correlation = str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:sikader:sample-chain:{model.topic}"))
    envelope = Envelope(
        id=event_id,
        source=f"sikader/{model.service if model.service in SERVICES else 'registry'}",  # auth: the issuer
        type=model.ce_type(),
        time=AT,
        subject=event.aggregate_id(),
        actor=ACTORS.get(model.service, "system"),
        correlation_id=correlation,
        causation_id=correlation,
    )
    return SampleMessage(key=event.aggregate_id(), headers=envelope.headers(), body=event.to_json_dict())


__all__ = ["AT", "SampleMessage", "sample", "sample_message", "samples"]
