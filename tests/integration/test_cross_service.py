"""Issue 5, Done-when: registry, certification and incentives together over the real broker,
each with its own database, driven only through their public HTTP APIs.

A Posyandu is verified, a cadre is registered there and certified (Purwa): incentives
announces IncentiveEligibilityChanged (eligible, one passed reason per rule, naming the events
its facts came from). The certificate is revoked: incentives announces the cadre ineligible,
with the revocation named as the failed rule's fact and source."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import partial
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord

from certification.app import definition as certification_definition
from certification.settings import CertificationSettings
from incentives.app import definition as incentives_definition
from incentives.settings import IncentivesSettings
from registry.app import definition as registry_definition
from registry.settings import RegistrySettings
from sikader_shared import topics
from sikader_shared.auth import issue_key
from sikader_shared.clock import WITA
from sikader_shared.envelope import REQUIRED_HEADERS
from sikader_shared.testing import checks
from sikader_shared.testing.kafka import headers_of, read_topic, wait_for
from sikader_shared.testing.services import InProcessService
from sikader_shared.uow import Actor
from tests.conftest import settings_for

pytestmark = pytest.mark.integration

ADMIN = Actor(client_id="ops", scopes=frozenset({"admin"}))
WAIT = 90.0  # generous: the machine may be loaded

RULES = ["cadre_active", "certificate_valid", "posyandu_verified", "posyandu_open", "posyandu_cap", "budget"]
CHANGED_TYPE = "sikader.incentives.IncentiveEligibilityChanged.v1"

# Who does what (each an OPD client with only the scopes it needs).
KEYS = {
    "dinsos": ["registry:read", "registry:write"],
    "dinkes": ["registry:read", "posyandu:verify"],
    "puskesmas-kli": ["certification:assess"],
    "dinkes-audit": ["certification:revoke"],
    "dprd": ["incentives:read"],
}

BIRTH = date(1988, 4, 12)
PHONE_LOCAL, PHONE_E164 = "0812-7788-9900", "+6281277889900"
ACCOUNT = "0098765432"


def make_nik(birth: date, sex: str, region: str = "647106", serial: int = 42) -> str:
    """A NIK that agrees with birth date and sex (women: day + 40), issued in Balikpapan."""
    day = birth.day + (40 if sex == "F" else 0)
    return f"{region}{day:02d}{birth.month:02d}{birth.year % 100:02d}{serial:04d}"


NIK = make_nik(BIRTH, "F")


eventually = partial(checks.eventually, timeout=WAIT, interval=0.2)


async def issue_all(registry: InProcessService) -> dict[str, str]:
    """Keys are issued at the registry; sikader.auth.v1 carries them to the other services."""
    keys: dict[str, str] = {}
    async with registry.runtime.uow(actor=ADMIN) as uow:
        for client, scopes in KEYS.items():
            keys[client] = (await issue_key(uow, client, scopes, label="cross-service test"))[1]
        await uow.commit()
    return keys


async def known_everywhere(services: list[InProcessService], keys: dict[str, str]) -> None:
    for svc in services:
        for client, key in keys.items():

            async def whoami(svc: InProcessService = svc, key: str = key) -> bool:
                async with svc.client(key) as c:
                    return (await c.get("/auth/whoami")).status_code == 200

            await eventually(whoami, f"key of {client} known to {svc.definition.name}")


def of(ce_type: str, key: str) -> Callable[[ConsumerRecord[bytes, bytes]], bool]:
    return lambda r: r.key == key.encode() and headers_of(r).get("ce_type") == ce_type


async def one(bootstrap: str, topic: str, ce_type: str, key: str) -> tuple[dict[str, str], dict[str, Any]]:
    [record] = await wait_for(bootstrap, topic, of(ce_type, key), timeout=WAIT)
    return headers_of(record), json.loads(record.value)


def changed_for(cadre_id: str) -> Callable[[ConsumerRecord[bytes, bytes]], bool]:
    return of(CHANGED_TYPE, cadre_id)


def by_rule(reasons: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["rule"]: r for r in reasons}


async def test_verify_register_certify_then_revoke_drives_incentive_eligibility(
    broker: Any, databases: Any, run_service: Any
) -> None:
    bootstrap = broker.bootstrap
    registry = await run_service(registry_definition(settings_for(RegistrySettings, broker, databases("registry"))))
    certification = await run_service(
        certification_definition(settings_for(CertificationSettings, broker, databases("certification")))
    )
    incentives = await run_service(
        incentives_definition(settings_for(IncentivesSettings, broker, databases("incentives")))
    )
    keys = await issue_all(registry)
    await known_everywhere([registry, certification, incentives], keys)
    today = datetime.now(UTC).astimezone(WITA).date().isoformat()

    # ------------------------------------------------------------------ registry
    # A Posyandu with its founding decree, assessed, then VERIFIED by Dinkes.
    async with registry.client(keys["dinsos"]) as dinsos:
        r = await dinsos.post(
            "/posyandu",
            json={
                "name": "Posyandu Anggrek",
                "kelurahan_code": "64.71.06.1002",
                "posyandu_type": "balita",
                "rt": "007",
                "puskesmas": "Puskesmas Klandasan Ilir",
                "institution": {"sk_number": "188.4/31/KLI/2025", "sk_date": "2025-02-03"},
            },
        )
        assert r.status_code == 201, r.text
        posyandu_id = r.json()["id"]
        r = await dinsos.post(
            f"/posyandu/{posyandu_id}/assessments",
            json={
                "facility_status": "public_building",
                "equipment": [{"item": "dacin", "available": True, "functional": True}],
                "assessed_by": "Puskesmas Klandasan Ilir",
                "assessed_on": today,
            },
        )
        assert r.status_code == 201, r.text
    async with registry.client(keys["dinkes"]) as dinkes:
        r = await dinkes.post(
            f"/posyandu/{posyandu_id}/verification", json={"decision": "VERIFIED", "note": "checked on site"}
        )
        assert r.status_code == 201, r.text
        assert (await dinkes.get(f"/posyandu/{posyandu_id}")).json()["verification_status"] == "VERIFIED"

    # A cadre registered there (with NIK, phone and payment details: none may leak downstream).
    async with registry.client(keys["dinsos"]) as dinsos:
        r = await dinsos.post(
            "/cadres",
            json={
                "nik": NIK,
                "name": "Rahmawati Said",
                "sex": "F",
                "birth_date": BIRTH.isoformat(),
                "phone": PHONE_LOCAL,
                "roles": ["posyandu_cadre"],
                "posyandu_id": posyandu_id,
                "posyandu_role": "core",
                "joined_on": "2018-06-01",
                "payment": {"method": "bank", "bank": "BPD_KALTIMTARA", "account_number": ACCOUNT},
            },
        )
        assert r.status_code == 201, r.text
        cadre = r.json()
    cadre_id = cadre["id"]
    assert (cadre["posyandu_id"], cadre["status"]) == (posyandu_id, "active")

    registered_h, _ = await one(bootstrap, topics.POSYANDU, "sikader.registry.PosyanduRegistered.v1", posyandu_id)
    verified_h, verified = await one(
        bootstrap, topics.POSYANDU, "sikader.registry.PosyanduFacilityVerified.v1", posyandu_id
    )
    assert verified["verified_by"] == "dinkes"
    cadre_h, _ = await one(bootstrap, topics.CADRE, "sikader.registry.CadreRegistered.v1", cadre_id)

    # ------------------------------------------------------------------ certification
    async with certification.client(keys["puskesmas-kli"]) as puskesmas:

        async def cadre_known() -> dict[str, Any] | None:
            r = await puskesmas.get(f"/cadres/{cadre_id}")
            return r.json() if r.status_code == 200 and r.json().get("status") == "active" else None

        known = await eventually(cadre_known, "certification knows the cadre")
        assert known["posyandu_id"] == posyandu_id

        # Groups 1 (Posyandu management), 2 (infants) and 3 complete: Purwa.
        results = [{"skill_code": f"{g}.{i}", "passed": True} for g in ("1", "2", "3") for i in range(1, 6)]
        assessment = {"cadre_id": cadre_id, "assessor": "Puskesmas Klandasan Ilir", "assessed_on": today}
        r = await puskesmas.post("/assessments", json={**assessment, "results": results})
        assert r.status_code == 201, r.text
        outcome = r.json()
        assert (outcome["level"], outcome["certificate_action"]) == ("Purwa", "issue")

        r = await puskesmas.get("/certificates", params={"cadre_id": cadre_id})
        assert r.status_code == 200, r.text
        [certificate] = r.json()
    assert (certificate["level"], certificate["status"]) == ("Purwa", "valid")
    certificate_id, number = certificate["certificate_id"], certificate["number"]

    certified_h, certified = await one(
        bootstrap, topics.CERTIFICATION, "sikader.certification.CadreCertified.v1", cadre_id
    )
    assert (certified["certificate_id"], certified["level"]) == (certificate_id, "Purwa")

    # ------------------------------------------------------------------ incentives: eligible
    [first_record] = (await wait_for(bootstrap, topics.INCENTIVES, changed_for(cadre_id), timeout=WAIT))[:1]
    h, first = headers_of(first_record), json.loads(first_record.value)
    period = first["period"]
    assert first["eligible"] is True and first["amount"] > 0, first
    assert (first["level"], first["posyandu_id"], first["kelurahan_code"]) == ("Purwa", posyandu_id, "64.71.06.1002")
    assert first["previous_eligible"] is None and first["previous_amount"] is None
    assert first["policy_version"]
    reasons = by_rule(first["reasons"])
    assert [r["rule"] for r in first["reasons"]] == RULES
    assert all(r["passed"] and r["fact"] for r in first["reasons"]), first["reasons"]
    sources = {i for r in first["reasons"] for i in r["source_event_ids"]}
    assert {certified_h["ce_id"], verified_h["ce_id"]} <= sources
    assert reasons["certificate_valid"]["source_event_ids"] == [certified_h["ce_id"]]
    assert number in reasons["certificate_valid"]["fact"]
    assert reasons["posyandu_verified"]["source_event_ids"] == [verified_h["ce_id"]]
    assert "VERIFIED" in reasons["posyandu_verified"]["fact"]
    assert reasons["cadre_active"]["source_event_ids"] == [cadre_h["ce_id"]]
    assert reasons["posyandu_open"]["source_event_ids"] == [registered_h["ce_id"]]
    # The envelope of the incentives event.
    assert set(REQUIRED_HEADERS) <= set(h)
    assert h["ce_type"] == CHANGED_TYPE and h["ce_source"] == "sikader/incentives" and h["ce_subject"] == cadre_id
    assert h["ce_specversion"] == "1.0" and h["content-type"] == "application/json"
    assert h["ce_causationid"] and h["ce_correlationid"]

    async with incentives.client(keys["dprd"]) as dprd:
        r = await dprd.get(f"/eligibility/{cadre_id}", params={"period": period})
        assert r.status_code == 200, r.text
        answer = r.json()
    assert (answer["eligible"], answer["amount"], answer["policy_version"]) == (
        True,
        first["amount"],
        first["policy_version"],
    )
    assert [x["rule"] for x in answer["reasons"]] == RULES and all(x["passed"] for x in answer["reasons"])
    for x in answer["reasons"]:
        event_reason = reasons[x["rule"]]
        assert x["text_en"] == event_reason["fact"] and x["text_id"] and x["text_id"] != x["text_en"]
        assert x["source_event_ids"] == event_reason["source_event_ids"]
    assert "berlaku" in by_rule(answer["reasons"])["certificate_valid"]["text_id"]

    # ------------------------------------------------------------------ revocation
    async with certification.client(keys["dinkes-audit"]) as audit:
        r = await audit.post(
            f"/certificates/{certificate_id}/revoke", json={"reason": "Penilaian terbukti tidak sah (audit Dinkes)"}
        )
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "revoked"
    revoked_h, revoked = await one(
        bootstrap, topics.CERTIFICATION, "sikader.certification.CertificateRevoked.v1", cadre_id
    )
    assert (revoked["certificate_id"], revoked["status"]) == (certificate_id, "revoked")

    lost_records = await wait_for(
        bootstrap,
        topics.INCENTIVES,
        lambda r: changed_for(cadre_id)(r) and not json.loads(r.value)["eligible"],
        timeout=WAIT,
    )
    lost_record = lost_records[0]
    lh, lost = headers_of(lost_record), json.loads(lost_record.value)
    assert (lost["eligible"], lost["amount"], lost["period"]) == (False, 0, period)
    assert (lost["previous_eligible"], lost["previous_amount"]) == (True, first["amount"])
    failed = [r for r in lost["reasons"] if not r["passed"]]
    assert [r["rule"] for r in failed] == ["certificate_valid"], lost["reasons"]
    assert failed[0]["source_event_ids"] == [revoked_h["ce_id"]]
    revoked_on = datetime.fromisoformat(revoked["revoked_at"]).astimezone(WITA).date()
    assert failed[0]["fact"] == f"certificate {number} (Purwa) revoked on {revoked_on}"
    assert [r["rule"] for r in lost["reasons"]] == RULES
    assert lh["ce_type"] == CHANGED_TYPE and lh["ce_source"] == "sikader/incentives" and lh["ce_subject"] == cadre_id
    assert lh["ce_causationid"] == revoked_h["ce_id"]  # caused by the revocation
    assert lh["ce_correlationid"] == revoked_h["ce_correlationid"]
    # Announced in order: the ineligible one after the eligible one.
    assert (lost_record.partition, lost_record.offset) > (first_record.partition, first_record.offset)

    async with incentives.client(keys["dprd"]) as dprd:
        r = await dprd.get(f"/eligibility/{cadre_id}", params={"period": period})
        assert r.status_code == 200, r.text
        answer = r.json()
    assert (answer["eligible"], answer["amount"], answer["source"]) == (False, 0, "live")
    cert_reason = by_rule(answer["reasons"])["certificate_valid"]
    assert cert_reason["passed"] is False and cert_reason["source_event_ids"] == [revoked_h["ce_id"]]
    assert cert_reason["text_en"] == failed[0]["fact"]
    assert cert_reason["text_id"] == f"sertifikat {number} (Purwa) dicabut pada {revoked_on}"
    assert [x["rule"] for x in answer["reasons"] if not x["passed"]] == ["certificate_valid"]

    # No personal data in anything incentives published.
    everything = [r for r in await read_topic(bootstrap, topics.INCENTIVES) if r.value]
    assert any(changed_for(cadre_id)(r) for r in everything)
    phone_digits = PHONE_E164.removeprefix("+")
    for record in everything:
        text = record.value.decode()
        for secret in (NIK, PHONE_E164, phone_digits, "081277889900", PHONE_LOCAL, ACCOUNT):
            assert secret not in text, (secret, headers_of(record).get("ce_type"))
