"""Across registry and certification, both real services on one broker: a cadre registered
in the registry and assessed on the right skills yields CadreCertified with the right level;
deactivating the cadre in the registry suspends the certificate (issue 4's Done-when)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from certification.app import definition as certification_definition
from certification.settings import CertificationSettings
from registry.app import definition as registry_definition
from registry.settings import RegistrySettings
from sikader_shared import topics
from sikader_shared.auth import issue_key
from sikader_shared.testing.kafka import headers_of, wait_for
from sikader_shared.uow import Actor
from tests.certification.support import assessment
from tests.conftest import settings_for
from tests.integration.test_foundation import eventually
from tests.registry.conftest import make_nik

pytestmark = pytest.mark.integration
ADMIN = Actor(client_id="ops", scopes=frozenset({"admin"}))


def of(ce_type: str, cadre_id: str) -> Any:
    return lambda r: headers_of(r).get("ce_type") == ce_type and r.key == cadre_id.encode()


async def test_registered_cadre_is_certified_and_suspended_on_deactivation(broker, databases, run_service) -> None:
    registry = await run_service(registry_definition(settings_for(RegistrySettings, broker, databases("registry"))))
    certification = await run_service(
        certification_definition(settings_for(CertificationSettings, broker, databases("certification")))
    )
    async with registry.runtime.uow(actor=ADMIN) as uow:
        _, dinsos = await issue_key(uow, "dinsos", ["registry:read", "registry:write"])
        _, puskesmas = await issue_key(uow, "puskesmas-klandasan", ["certification:assess"])
        await uow.commit()

    async with registry.client(dinsos) as reg:
        posyandu = await reg.post(
            "/posyandu", json={"name": "Posyandu Anggrek", "kelurahan_code": "64.71.06.1002", "posyandu_type": "balita"}
        )
        assert posyandu.status_code == 201, posyandu.text
        cadre = await reg.post(
            "/cadres",
            json={
                "nik": make_nik(date(1988, 3, 9), "F", serial=42),
                "name": "Nur Aisyah",
                "sex": "F",
                "birth_date": "1988-03-09",
                "phone": "0813-1111-2222",
                "roles": ["posyandu_cadre"],
                "posyandu_id": posyandu.json()["id"],
                "posyandu_role": "core",
            },
        )
        assert cadre.status_code == 201, cadre.text
    cadre_id = cadre.json()["id"]

    # The certification service learns of the cadre from the registry's events only.
    async with certification.client(puskesmas) as cert:
        await eventually(lambda: _known(cert, cadre_id), timeout=30)
        r = await cert.post("/assessments", json=assessment(cadre_id, "1", "2", "3", "4"))
        assert r.status_code == 201, r.text
        outcome = r.json()
    assert outcome["level"] == "Madya"  # management + toddlers + two more groups complete
    [certified] = await wait_for(
        broker.bootstrap, topics.CERTIFICATION, of("sikader.certification.CadreCertified.v1", cadre_id)
    )
    body = json.loads(certified.value)
    assert body["level"] == "Madya" and body["certificate_id"] == outcome["certificate"]["certificate_id"]
    h = headers_of(certified)
    assert (
        h["ce_source"] == "sikader/certification"
        and h["ce_subject"] == cadre_id
        and h["ce_actor"] == "puskesmas-klandasan"
    )

    # Deactivated in the registry -> the certificate is suspended (never deleted).
    async with registry.client(dinsos) as reg:
        off = await reg.post(f"/cadres/{cadre_id}/deactivation", json={"reason": "pindah domisili"})
        assert off.status_code == 200, off.text
    [suspended] = await wait_for(
        broker.bootstrap,
        topics.CERTIFICATION,
        of("sikader.certification.CertificateSuspended.v1", cadre_id),
        timeout=30,
    )
    assert json.loads(suspended.value)["certificate_id"] == body["certificate_id"]
    [deactivated] = await wait_for(broker.bootstrap, topics.CADRE, of("sikader.registry.CadreDeactivated.v1", cadre_id))
    assert headers_of(suspended)["ce_causationid"] == headers_of(deactivated)["ce_id"]
    async with certification.client() as public:
        verdict = (await public.get(f"/certificates/{body['certificate_number']}/verify")).json()
    assert verdict["status"] == "suspended"


async def _known(client: Any, cadre_id: str) -> bool:
    return (await client.get(f"/cadres/{cadre_id}")).status_code == 200
