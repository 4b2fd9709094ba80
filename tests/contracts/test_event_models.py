"""The event models against the public contract (../shared/CONTRACT.md): every event type
exists on its topic with the right ce_type and aggregate, validates what it should, and
carries no personal data it must not."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from sikader_shared import topics
from sikader_shared.events import EVENT_MODELS, Event, model_for

# The topic table of CONTRACT.md, copied here on purpose: a change to it must be deliberate.
CONTRACT_TOPICS: dict[str, tuple[str, list[str]]] = {
    "sikader.registry.posyandu.v1": (
        "registry",
        [
            "PosyanduRegistered",
            "PosyanduUpdated",
            "PosyanduFacilityAssessed",
            "PosyanduFacilityVerified",
            "PosyanduFacilityRejected",
            "PosyanduClosed",
        ],
    ),
    "sikader.registry.cadre.v1": (
        "registry",
        [
            "CadreRegistered",
            "CadreUpdated",
            "CadreAssigned",
            "CadreDeactivated",
            "CadreReactivated",
        ],
    ),
    "sikader.registry.cadre-private.v1": (
        "registry",
        ["CadreContactChanged", "CadrePaymentDetailsChanged"],
    ),
    "sikader.certification.v1": (
        "certification",
        [
            "TrainingCompleted",
            "SkillAssessed",
            "CadreCertified",
            "CertificateSuperseded",
            "CertificateSuspended",
            "CertificateRenewed",
            "CertificateExpiring",
            "CertificateExpired",
            "CertificateRevoked",
        ],
    ),
    "sikader.incentives.v1": (
        "incentives",
        [
            "IncentiveEligibilityChanged",
            "IncentivePeriodCalculated",
            "IncentivePeriodApproved",
            "IncentivePaymentRecorded",
            "IncentivePeriodClosed",
        ],
    ),
    "sikader.notifications.v1": ("notifications", ["NotificationDelivered", "NotificationFailed"]),
    "sikader.auth.v1": ("auth", ["ApiKeyIssued", "ApiKeyRevoked"]),
}

CONTRACT_EVENTS = [(topic, service, name) for topic, (service, names) in CONTRACT_TOPICS.items() for name in names]

# Event types added beyond CONTRACT.md's table: compatible additions (the contract allows a new
# event type on a topic), each named here on purpose and documented in docs/events.md.
ADDED_BEYOND_CONTRACT: dict[str, list[str]] = {
    # the console's "send back for correction" (issue 17); consumers that ignore it stay right
    "sikader.registry.posyandu.v1": ["PosyanduFacilityReturned"],
}

CERTIFICATE_EVENTS = [
    "CadreCertified",
    "CertificateSuperseded",
    "CertificateSuspended",
    "CertificateRenewed",
    "CertificateExpiring",
    "CertificateExpired",
    "CertificateRevoked",
]

EXPECTED_AGGREGATE = {
    **{n: "posyandu_id" for n in CONTRACT_TOPICS["sikader.registry.posyandu.v1"][1]},
    **{n: "cadre_id" for n in CONTRACT_TOPICS["sikader.registry.cadre.v1"][1]},
    **{n: "cadre_id" for n in CONTRACT_TOPICS["sikader.registry.cadre-private.v1"][1]},
    **{n: "cadre_id" for n in CONTRACT_TOPICS["sikader.certification.v1"][1]},
    "IncentiveEligibilityChanged": "cadre_id",
    "IncentivePeriodCalculated": "period",
    "IncentivePeriodApproved": "period",
    "IncentivePaymentRecorded": "cadre_id",
    "IncentivePeriodClosed": "period",
    "NotificationDelivered": "notification_id",
    "NotificationFailed": "notification_id",
    "ApiKeyIssued": "key_id",
    "ApiKeyRevoked": "key_id",
}

# ----------------------------------------------------------------------------- samples

POSYANDU_ID = "0b5c1f7e-2d0a-4d35-9a55-3a3f0d2a8b11"
OTHER_POSYANDU_ID = "7f1e2c3d-4b5a-4c6d-8e9f-0a1b2c3d4e5f"
CADRE_ID = "5e0f5f8a-1c9b-4a7e-b0e4-6a0f3a4d2c19"
CERT_ID = "c1d2e3f4-a5b6-4c7d-8e9f-101112131415"
NEW_CERT_ID = "d1d2e3f4-a5b6-4c7d-8e9f-101112131416"
EVENT_ID = "9a8b7c6d-5e4f-4a3b-2c1d-0e0f1a2b3c4d"
AT = datetime(2025, 6, 2, 1, 30, 0)
KEL = "64.71.01.1001"
KEC = "64.71.01"
AREA = {"kelurahan_code": KEL, "kecamatan_code": KEC}
POSYANDU_STATE: dict[str, Any] = {
    "posyandu_id": POSYANDU_ID,
    **AREA,
    "name": "Posyandu Melati",
    "posyandu_type": "balita",
    "rt": "012",
    "status": "active",
    "verification_status": "PENDING",
    "institution": {"sk_number": "188.4/12/KEL-DMI/2024", "sk_date": date(2024, 3, 1)},
    "management": [{"role": "ketua", "cadre_id": CADRE_ID}],
    "puskesmas": "Puskesmas Damai",
}
CADRE_STATE: dict[str, Any] = {
    "cadre_id": CADRE_ID,
    **AREA,
    "name": "Siti Rahmawati",
    "roles": ["posyandu_cadre", "pkk"],
    "status": "active",
    "posyandu_id": POSYANDU_ID,
    "posyandu_role": "ketua",
    "joined_on": date(2019, 7, 1),
}
CERT: dict[str, Any] = {
    "cadre_id": CADRE_ID,
    **AREA,
    "certificate_id": CERT_ID,
    "certificate_number": "KDR-BPN-2025-000123",
    "level": "Madya",
    "status": "valid",
    "expires_on": date(2028, 6, 2),
}
NOTIFICATION: dict[str, Any] = {
    "notification_id": "3c2b1a09-8f7e-4d6c-9b5a-4f3e2d1c0b0a",
    "source_event_id": EVENT_ID,
    "source_event_type": "sikader.certification.CadreCertified.v1",
    "channel": "email",
    "recipient_type": "cadre",
    "recipient_id": CADRE_ID,
    "template": "cadre_certified.id",
    "attempts": 1,
}
FERNET = "gAAAAABmZ3Rva2VuLW5vdC1yZWFsLWp1c3QtYS1zYW1wbGU="

SAMPLES: dict[str, dict[str, Any]] = {
    "PosyanduRegistered": {**POSYANDU_STATE, "registered_at": AT},
    "PosyanduUpdated": {**POSYANDU_STATE, "changed": ["rt"], "updated_at": AT},
    "PosyanduFacilityAssessed": {
        "posyandu_id": POSYANDU_ID,
        **AREA,
        "assessment_id": "a0000000-0000-4000-8000-000000000001",
        "facility_status": "resident_house",
        "equipment": [
            {"item": "dacin", "available": True, "functional": True},
            {"item": "muac_tape", "available": False},
        ],
        "photo_refs": ["assessments/a0000000/front.jpg"],
        "assessed_by": "Puskesmas Damai",
        "assessed_on": date(2025, 5, 20),
        "verification_status": "PENDING",
    },
    "PosyanduFacilityVerified": {
        "posyandu_id": POSYANDU_ID,
        **AREA,
        "name": "Posyandu Melati",
        "assessment_id": "a0000000-0000-4000-8000-000000000001",
        "facility_status": "public_building",
        "verified_by": "dinkes",
        "verified_at": AT,
    },
    "PosyanduFacilityRejected": {
        "posyandu_id": POSYANDU_ID,
        **AREA,
        "name": "Posyandu Melati",
        "reason": "SK pembentukan belum ada",
        "rejected_by": "dinkes",
        "rejected_at": AT,
    },
    "PosyanduFacilityReturned": {
        "posyandu_id": POSYANDU_ID,
        **AREA,
        "name": "Posyandu Melati",
        "assessment_id": "a0000000-0000-4000-8000-000000000001",
        "facility_status": "resident_house",
        "reason": "SK pembentukan belum dilampirkan",
        "note": None,
        "decided_by": "dinkes",
        "decided_at": AT,
    },
    "PosyanduClosed": {
        "posyandu_id": POSYANDU_ID,
        **AREA,
        "name": "Posyandu Melati",
        "closure": "merged",
        "merged_into_posyandu_id": OTHER_POSYANDU_ID,
        "closed_on": date(2025, 7, 1),
        "reassigned_cadre_ids": [CADRE_ID],
    },
    "CadreRegistered": {**CADRE_STATE, "registered_at": AT},
    "CadreUpdated": {**CADRE_STATE, "changed": ["roles"], "updated_at": AT},
    "CadreAssigned": {
        "cadre_id": CADRE_ID,
        **AREA,
        "posyandu_id": OTHER_POSYANDU_ID,
        "previous_posyandu_id": POSYANDU_ID,
        "assigned_on": date(2025, 7, 1),
        "reason": "posyandu_merged",
    },
    "CadreDeactivated": {
        "cadre_id": CADRE_ID,
        **AREA,
        "posyandu_id": POSYANDU_ID,
        "reason": "pindah domisili",
        "effective_on": date(2025, 8, 1),
    },
    "CadreReactivated": {"cadre_id": CADRE_ID, **AREA, "effective_on": date(2025, 9, 1)},
    "CadreContactChanged": {
        "cadre_id": CADRE_ID,
        "key_id": "contact-2025-01",
        "changed_at": AT,
        "phone_enc": FERNET,
        "email_enc": None,
        "address_enc": FERNET,
    },
    "CadrePaymentDetailsChanged": {
        "cadre_id": CADRE_ID,
        "key_id": "payment-2025-01",
        "changed_at": AT,
        "method": "bank",
        "bank_enc": FERNET,
        "account_number_enc": FERNET,
        "account_holder_enc": FERNET,
    },
    "TrainingCompleted": {
        "cadre_id": CADRE_ID,
        "training_id": "b0000000-0000-4000-8000-000000000001",
        "title": "Pelatihan Kader Posyandu Dasar",
        "organiser": "dinkes",
        "skill_codes": ["MNJ-01", "BLT-01"],
        "started_on": date(2025, 4, 1),
        "completed_on": date(2025, 4, 3),
    },
    "SkillAssessed": {
        "cadre_id": CADRE_ID,
        "assessment_id": "e0000000-0000-4000-8000-000000000001",
        "skill_code": "BLT-01",
        "skill_group": "2",
        "passed": True,
        "badge_id": "f0000000-0000-4000-8000-000000000001",
        "assessor": "Puskesmas Damai",
        "assessed_on": date(2025, 5, 2),
    },
    "CadreCertified": {
        **CERT,
        "cadre_name": "Siti Rahmawati",
        "skill_codes": ["MNJ-01", "BLT-01"],
        "issued_on": date(2025, 6, 2),
        "issuer": "Dinas Kesehatan Kota Balikpapan",
    },
    "CertificateSuperseded": {
        **CERT,
        "status": "superseded",
        "superseded_by_certificate_id": NEW_CERT_ID,
        "superseded_by_number": "KDR-BPN-2026-000077",
        "new_level": "Utama",
        "superseded_on": date(2026, 1, 5),
    },
    "CertificateSuspended": {
        **CERT,
        "status": "suspended",
        "reason": "cadre_deactivated",
        "suspended_on": date(2025, 8, 1),
    },
    "CertificateRenewed": {
        **CERT,
        "basis": "reactivation",
        "previous_expires_on": date(2028, 6, 2),
        "renewed_on": date(2025, 9, 1),
    },
    "CertificateExpiring": {**CERT, "days_left": 30},
    "CertificateExpired": {**CERT, "status": "expired", "expired_on": date(2028, 6, 2)},
    "CertificateRevoked": {
        **CERT,
        "status": "revoked",
        "reason": "data palsu",
        "revoked_by": "dinkes",
        "revoked_at": AT,
    },
    "IncentiveEligibilityChanged": {
        "cadre_id": CADRE_ID,
        "period": "2025-06",
        "eligible": True,
        "amount": 500_000,
        "policy_version": "2025.1",
        "reasons": [
            {
                "rule": "certificate_valid",
                "passed": True,
                "fact": "KDR-BPN-2025-000123 (Madya) valid until 2028-06-02",
                "fact_id": "KDR-BPN-2025-000123 (Madya) berlaku sampai 2028-06-02",
                "source_event_ids": [EVENT_ID],
            }
        ],
        "level": "Madya",
        "decided_at": AT,
    },
    "IncentivePeriodCalculated": {
        "period": "2025-06",
        "policy_version": "2025.1",
        "decision_hash": "ab" * 32,
        "cadres_evaluated": 3400,
        "eligible_cadres": 2900,
        "total_amount": 1_450_000_000,
        "totals_by_kecamatan": [{"kecamatan_code": KEC, "eligible_cadres": 480, "total_amount": 240_000_000}],
        "calculated_by": "bpkad",
        "calculated_at": AT,
    },
    "IncentivePeriodApproved": {
        "period": "2025-06",
        "policy_version": "2025.1",
        "decision_hash": "ab" * 32,
        "eligible_cadres": 2900,
        "total_amount": 1_450_000_000,
        "calculated_by": "bpkad",
        "approved_by": "sekda",
        "approved_at": AT,
    },
    "IncentivePaymentRecorded": {
        "cadre_id": CADRE_ID,
        "period": "2025-06",
        "payment_reference": "INC-2025-06-000001",
        "amount": 500_000,
        "result": "failed",
        "failure_reason": "rekening tidak aktif",
        "recorded_at": AT,
    },
    "IncentivePeriodClosed": {
        "period": "2025-06",
        "paid_cadres": 2899,
        "paid_amount": 1_449_500_000,
        "failed_cadres": 1,
        "closed_by": "bpkad",
        "closed_at": AT,
    },
    "NotificationDelivered": {**NOTIFICATION, "delivered_at": AT},
    "NotificationFailed": {
        **NOTIFICATION,
        "attempts": 12,
        "reason": "SMTP 550 mailbox unavailable",
        "failed_at": AT,
    },
    "ApiKeyIssued": {
        "key_id": "sk_dinkes01",
        "client_id": "dinkes",
        "key_hash": "cd" * 32,
        "scopes": ["registry:read"],
        "issued_at": AT,
    },
    "ApiKeyRevoked": {"key_id": "sk_dinkes01", "client_id": "dinkes", "revoked_at": AT},
}


def _model(name: str) -> type[Event]:
    matches = [m for m in EVENT_MODELS.values() if m.event_name == name]
    assert len(matches) == 1, f"{name}: {len(matches)} models"
    return matches[0]


# ----------------------------------------------------------------------------- catalogue


@pytest.mark.parametrize(("topic", "service", "name"), CONTRACT_EVENTS)
def test_contract_event_exists_with_topic_and_ce_type(topic: str, service: str, name: str) -> None:
    ce_type = f"sikader.{service}.{name}.v1"
    model = model_for(ce_type)
    assert model is not None, f"{ce_type} not in EVENT_MODELS"
    assert model.event_name == name
    assert model.service == service
    assert model.version == 1
    assert model.topic == topic
    assert model.ce_type() == ce_type
    assert model.aggregate_field == EXPECTED_AGGREGATE[name]
    assert model.model_fields[model.aggregate_field].is_required()


def test_catalogue_is_the_contract_plus_named_additions() -> None:
    added = [(t, CONTRACT_TOPICS[t][0], n) for t, names in ADDED_BEYOND_CONTRACT.items() for n in names]
    expected = {f"sikader.{service}.{name}.v1" for _, service, name in CONTRACT_EVENTS + added}
    assert set(EVENT_MODELS) == expected
    for topic, (_, names) in CONTRACT_TOPICS.items():
        on_topic = sorted(m.event_name for m in EVENT_MODELS.values() if m.topic == topic)
        assert on_topic == sorted(names + ADDED_BEYOND_CONTRACT.get(topic, [])), topic


def test_topics_are_the_catalogues() -> None:
    assert set(CONTRACT_TOPICS) == {t.name for t in topics.CATALOGUE}
    assert topics.POSYANDU == "sikader.registry.posyandu.v1"
    assert topics.CADRE_PRIVATE == "sikader.registry.cadre-private.v1"
    assert topics.CERTIFICATION == "sikader.certification.v1"
    assert {t.name for t in topics.CATALOGUE if t.restricted} == {topics.CADRE_PRIVATE}


def test_agency_event_names_are_spelled_exactly() -> None:
    assert model_for("sikader.certification.CadreCertified.v1") is not None
    assert model_for("sikader.registry.PosyanduFacilityVerified.v1") is not None


@pytest.mark.parametrize("name", CERTIFICATE_EVENTS)
def test_certificate_events_carry_certificate_id_number_and_level(name: str) -> None:
    fields = _model(name).model_fields
    for field in ("cadre_id", "certificate_id", "certificate_number", "level", "status"):
        assert field in fields and fields[field].is_required(), f"{name}.{field}"


@pytest.mark.parametrize(
    "name",
    [n for n in CONTRACT_TOPICS["sikader.registry.posyandu.v1"][1]]
    + [n for n in CONTRACT_TOPICS["sikader.registry.cadre.v1"][1]],
)
def test_registry_public_events_carry_area_codes(name: str) -> None:
    fields = _model(name).model_fields
    assert fields["kelurahan_code"].is_required()
    assert fields["kecamatan_code"].is_required()


def test_every_field_is_documented_or_self_explanatory() -> None:
    """Identifiers and codes need a description; plain names like `reason` need none."""
    needs_description = re.compile(r"(_id|_ids|_code|_enc|_hash|_by|^status)$")
    for ce_type, model in EVENT_MODELS.items():
        if model.service == "auth":
            continue
        for name, info in model.model_fields.items():
            if needs_description.search(name):
                assert info.description, f"{ce_type}.{name} has no description"


# ----------------------------------------------------------------------------- validation


def test_samples_cover_every_model() -> None:
    assert {m.event_name for m in EVENT_MODELS.values()} == set(SAMPLES)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_sample_round_trips_through_json(name: str) -> None:
    model = _model(name)
    event = model.model_validate(SAMPLES[name])
    body = event.to_json_dict()
    again = model.model_validate_json(event.model_dump_json())
    assert again == event
    assert again.to_json_dict() == body
    assert event.aggregate_id() == str(SAMPLES[name][model.aggregate_field])


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_unknown_fields_are_ignored_for_forward_compatibility(name: str) -> None:
    model = _model(name)
    event = model.model_validate({**SAMPLES[name], "added_in_a_later_minor": 1})
    assert "added_in_a_later_minor" not in event.to_json_dict()


@pytest.mark.parametrize(
    ("name", "field", "bad"),
    [
        ("PosyanduRegistered", "posyandu_type", "posbindu"),
        ("PosyanduRegistered", "verification_status", "verified"),
        ("PosyanduFacilityAssessed", "facility_status", "rented"),
        ("CadreRegistered", "status", "retired"),
        ("CadreCertified", "level", "Pratama"),
        ("CadreCertified", "status", "active"),
        ("CertificateRenewed", "basis", "whim"),
        ("IncentiveEligibilityChanged", "period", "2025-13"),
        ("IncentiveEligibilityChanged", "period", "2025-6"),
        ("IncentiveEligibilityChanged", "amount", -1),
        ("IncentiveEligibilityChanged", "amount", 1.5),
        ("IncentivePaymentRecorded", "result", "pending"),
        ("NotificationFailed", "channel", "fax"),
        ("NotificationFailed", "attempts", 0),
        ("CadreCertified", "expires_on", "not a date"),
    ],
)
def test_invalid_values_are_rejected(name: str, field: str, bad: Any) -> None:
    with pytest.raises(ValidationError):
        _model(name).model_validate({**SAMPLES[name], field: bad})


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_missing_aggregate_id_is_rejected(name: str) -> None:
    model = _model(name)
    payload = {k: v for k, v in SAMPLES[name].items() if k != model.aggregate_field}
    with pytest.raises(ValidationError):
        model.model_validate(payload)


def test_enumerations_are_the_domain_values() -> None:
    from typing import get_args

    from sikader_shared.events import CadreStatus, FacilityStatus, Level, PosyanduType

    assert get_args(Level) == ("Purwa", "Madya", "Utama")
    assert set(get_args(PosyanduType)) == {"balita", "lansia", "remaja", "ILP"}
    assert set(get_args(CadreStatus)) == {"active", "inactive"}
    assert set(get_args(FacilityStatus)) == {
        "own_building",
        "resident_house",
        "public_building",
        "none",
    }


def test_eligibility_carries_explainable_reasons() -> None:
    model = _model("IncentiveEligibilityChanged")
    event = model.model_validate(SAMPLES["IncentiveEligibilityChanged"])
    body = event.to_json_dict()
    assert body["amount"] == 500_000 and isinstance(body["amount"], int)
    assert body["reasons"][0] == {
        "rule": "certificate_valid",
        "passed": True,
        "fact": "KDR-BPN-2025-000123 (Madya) valid until 2028-06-02",
        "fact_id": "KDR-BPN-2025-000123 (Madya) berlaku sampai 2028-06-02",
        "source_event_ids": [EVENT_ID],
    }
    # fact_id was added in a compatible way: a reason without it (an older producer) still validates
    older = {**SAMPLES["IncentiveEligibilityChanged"]}
    older["reasons"] = [{k: v for k, v in r.items() if k != "fact_id"} for r in older["reasons"]]
    assert model.model_validate(older).reasons[0].fact_id is None
    for field in ("eligible", "amount", "period", "policy_version", "reasons"):
        assert model.model_fields[field].is_required()


def test_dates_and_timestamps_serialise_as_iso_text() -> None:
    body = _model("CadreCertified").model_validate(SAMPLES["CadreCertified"]).to_json_dict()
    assert body["issued_on"] == "2025-06-02"
    body = _model("CertificateRevoked").model_validate(SAMPLES["CertificateRevoked"]).to_json_dict()
    assert body["revoked_at"].startswith("2025-06-02T01:30:00")


# ----------------------------------------------------------------------------- privacy

# Words that name personal contact / payment data or the NIK, in English and Indonesian.
FORBIDDEN_TOKENS = {"nik", "ktp", "hp", "wa", "npwp", "kk"}
FORBIDDEN_SUBSTRINGS = (
    "phone",
    "email",
    "mail",
    "address",
    "account",
    "iban",
    "msisdn",
    "telp",
    "telepon",
    "alamat",
    "rekening",
    "whatsapp",
    "birth",
    "lahir",
    "bank",
    "wallet",
)
PRIVATE_METADATA_FIELDS = {"cadre_id", "key_id", "changed_at", "method"}


def _schema_property_names(model: type[BaseModel]) -> set[str]:
    """Every property name in the model's JSON Schema, nested models and $defs included."""
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            props = node.get("properties")
            if isinstance(props, dict):
                names.update(props)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(model.model_json_schema())
    return names


def _looks_personal(name: str) -> bool:
    lowered = name.lower()
    tokens = set(re.split(r"[_\W]+", lowered))
    return bool(tokens & FORBIDDEN_TOKENS) or any(s in lowered for s in FORBIDDEN_SUBSTRINGS)


def test_privacy_word_list_catches_what_it_should() -> None:
    for bad in (
        "nik",
        "cadre_nik",
        "phone",
        "phone_number",
        "email",
        "home_address",
        "account_number",
        "bank_account",
        "no_hp",
        "alamat",
        "nomor_rekening",
    ):
        assert _looks_personal(bad), bad
    for fine in ("cadre_id", "name", "kelurahan_code", "unique_code", "technik", "reason"):
        assert not _looks_personal(fine), fine


@pytest.mark.parametrize("ce_type", sorted(EVENT_MODELS))
def test_no_nik_in_any_event(ce_type: str) -> None:
    for name in _schema_property_names(EVENT_MODELS[ce_type]):
        tokens = set(re.split(r"[_\W]+", name.lower()))
        assert not tokens & {"nik", "ktp", "kk"}, f"{ce_type}.{name}"


@pytest.mark.parametrize("ce_type", sorted(k for k, m in EVENT_MODELS.items() if m.topic != topics.CADRE_PRIVATE))
def test_public_events_carry_no_contact_or_payment_fields(ce_type: str) -> None:
    model = EVENT_MODELS[ce_type]
    offending = sorted(n for n in _schema_property_names(model) if _looks_personal(n))
    assert not offending, f"{ce_type} carries personal fields {offending}"
    assert not any(n.endswith("_enc") for n in _schema_property_names(model))


PRIVATE_MODELS = sorted(k for k, m in EVENT_MODELS.items() if m.topic == topics.CADRE_PRIVATE)


def test_private_topic_holds_exactly_the_two_private_events() -> None:
    assert PRIVATE_MODELS == [
        "sikader.registry.CadreContactChanged.v1",
        "sikader.registry.CadrePaymentDetailsChanged.v1",
    ]


@pytest.mark.parametrize("ce_type", PRIVATE_MODELS)
def test_private_events_expose_contact_and_payment_data_only_encrypted(ce_type: str) -> None:
    model = EVENT_MODELS[ce_type]
    assert model.model_fields["key_id"].is_required()
    schema = model.model_json_schema()
    enc_fields = [n for n in model.model_fields if n.endswith("_enc")]
    assert enc_fields
    for name in model.model_fields:
        if name in PRIVATE_METADATA_FIELDS:
            continue
        assert name.endswith("_enc"), f"{ce_type}.{name}: plaintext field on the private topic"
    for name in enc_fields:
        prop = schema["properties"][name]
        types = {b.get("type") for b in prop.get("anyOf", [prop])}
        assert types <= {"string", "null"}, f"{ce_type}.{name} is not text"
        description = model.model_fields[name].description or ""
        assert "Fernet token" in description and "sikader_shared.crypto" in description
    # nothing nested: no plaintext can hide in a sub-object
    assert "$defs" not in schema


def test_contact_and_payment_events_cover_the_details() -> None:
    contact = set(_model("CadreContactChanged").model_fields)
    payment = set(_model("CadrePaymentDetailsChanged").model_fields)
    assert {"phone_enc", "email_enc", "address_enc", "key_id"} <= contact
    assert {"bank_enc", "account_number_enc", "account_holder_enc", "key_id"} <= payment


@pytest.mark.parametrize(
    "name",
    sorted(n for n in SAMPLES if _model(n).topic != topics.CADRE_PRIVATE),
)
def test_public_sample_bodies_hold_no_contact_values(name: str) -> None:
    """Belt and braces: serialised bodies of public events contain nothing that looks like
    a phone number, an email address or a 16-digit NIK."""
    text = _model(name).model_validate(SAMPLES[name]).model_dump_json()
    assert not re.search(r"\+62\d{6,}|\b08\d{7,}\b", text)
    assert not re.search(r"[\w.+-]+@[\w-]+\.[\w.]+", text)
    assert not re.search(r"(?<!\d)\d{16}(?!\d)", text)
