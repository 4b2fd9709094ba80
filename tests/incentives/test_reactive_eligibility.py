"""Reactive eligibility over the real broker: registry and certification events published by
the test (as those services would), IncentiveEligibilityChanged read back from the broker."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlmodel import select

from incentives.adapters.tables import PaymentDetailsRow
from sikader_shared import events as ev
from sikader_shared.crypto import FieldCipher
from tests.conftest import PAYMENT_KEY
from tests.incentives.helpers import KEL_A, Registry, key, settled, start_incentives, wait_events

pytestmark = pytest.mark.integration
CHANGED = ev.IncentiveEligibilityChanged


async def test_certified_cadre_becomes_eligible_and_revocation_makes_it_ineligible(
    broker, databases, run_service
) -> None:
    svc = await start_incentives(run_service, broker, databases)
    reader = await key(svc, "dprd", "incentives:read")
    reg = Registry(broker.bootstrap)

    # A verified Posyandu, a cadre registered there, then certified (Madya).
    pid, (_, verified_id) = await reg.posyandu(KEL_A)
    cadre = reg.cadre_registered(pid)
    [cadre_env] = await reg.publish(cadre)
    certified = reg.certified(cadre.cadre_id, "Madya")
    [cert_env] = await reg.publish(certified)

    [(headers, eligible)] = await wait_events(broker.bootstrap, CHANGED, lambda b: b["cadre_id"] == cadre.cadre_id)
    assert (eligible["eligible"], eligible["amount"], eligible["period"]) == (True, 350_000, "2026-11")
    assert (eligible["policy_version"], eligible["level"], eligible["posyandu_id"]) == ("v1", "Madya", pid)
    assert eligible["previous_eligible"] is None and eligible["kecamatan_code"] == "64.71.01"
    reasons = {r["rule"]: r for r in eligible["reasons"]}
    assert list(reasons) == [
        "cadre_active",
        "certificate_valid",
        "posyandu_verified",
        "posyandu_open",
        "posyandu_cap",
        "budget",
    ]
    assert all(r["passed"] for r in reasons.values())
    assert reasons["certificate_valid"]["source_event_ids"] == [cert_env.id]
    assert certified.certificate_number in reasons["certificate_valid"]["fact"]
    assert reasons["posyandu_verified"]["source_event_ids"] == [verified_id]
    assert reasons["cadre_active"]["source_event_ids"] == [cadre_env.id]
    assert headers["ce_type"] == "sikader.incentives.IncentiveEligibilityChanged.v1"
    assert headers["ce_source"] == "sikader/incentives" and headers["ce_subject"] == cadre.cadre_id
    assert headers["ce_causationid"] == cert_env.id  # caused by the certification

    # Revocation: ineligible, the revocation named as the reason.
    revoked = ev.CertificateRevoked(
        cadre_id=cadre.cadre_id,
        kelurahan_code=KEL_A,
        kecamatan_code="64.71.01",
        certificate_id=certified.certificate_id,
        certificate_number=certified.certificate_number,
        level="Madya",
        status="revoked",
        expires_on=certified.expires_on,
        reason="falsified assessment",
        revoked_by="dinkes",
        revoked_at=datetime(2026, 11, 18, 2, tzinfo=UTC),
    )
    [revoke_env] = await reg.publish(revoked)
    [(_, lost)] = await wait_events(
        broker.bootstrap, CHANGED, lambda b: b["cadre_id"] == cadre.cadre_id and not b["eligible"]
    )
    assert (lost["amount"], lost["previous_eligible"], lost["previous_amount"]) == (0, True, 350_000)
    failed = [r for r in lost["reasons"] if not r["passed"]]
    assert [r["rule"] for r in failed] == ["certificate_valid"]
    assert failed[0]["source_event_ids"] == [revoke_env.id]
    assert failed[0]["fact"] == f"certificate {certified.certificate_number} (Madya) revoked on 2026-11-18"
    assert failed[0]["fact_id"] == f"sertifikat {certified.certificate_number} (Madya) dicabut pada 2026-11-18"

    # The same answer over HTTP, in Indonesian and English.
    async with svc.client(reader) as client:
        r = await client.get(f"/eligibility/{cadre.cadre_id}", params={"period": "2026-11"})
        assert r.status_code == 200, r.text
        answer = r.json()
        assert (answer["eligible"], answer["source"], answer["policy_version"]) == (False, "live", "v1")
        cert_reason = next(x for x in answer["reasons"] if x["rule"] == "certificate_valid")
        assert cert_reason["text_id"] == f"sertifikat {certified.certificate_number} (Madya) dicabut pada 2026-11-18"
        assert cert_reason["text_en"] == failed[0]["fact"] and cert_reason["source_event_ids"] == [revoke_env.id]
        assert (await client.get("/eligibility/unknown-cadre")).status_code == 404
        assert (await client.get(f"/eligibility/{cadre.cadre_id}", params={"period": "2026-13"})).status_code == 422
    async with svc.client() as anonymous:
        assert (await anonymous.get(f"/eligibility/{cadre.cadre_id}")).status_code == 401

    # A repeated event, or one that changes no outcome, announces nothing.
    await reg.publish(reg.certified(cadre.cadre_id, "Purwa").model_copy(update={"status": "revoked"}))
    envs = await reg.publish(
        ev.PosyanduUpdated(
            posyandu_id=pid,
            kelurahan_code=KEL_A,
            kecamatan_code="64.71.01",
            name="Posyandu Melati",
            posyandu_type="balita",
            status="active",
            verification_status="VERIFIED",
            changed=["rt"],
            rt="003",
            updated_at=datetime(2026, 11, 19, tzinfo=UTC),
        )
    )
    await settled(svc, envs)
    assert len(await wait_events(broker.bootstrap, CHANGED, lambda b: b["cadre_id"] == cadre.cadre_id)) == 2


async def test_cap_and_posyandu_changes_re_decide_the_whole_posyandu(broker, databases, run_service) -> None:
    svc = await start_incentives(run_service, broker, databases)
    reg = Registry(broker.bootstrap)
    pid, _ = await reg.posyandu(KEL_A)
    cadres = [reg.cadre_registered(pid, joined=date(2010 + i, 1, 1)) for i in range(6)]
    await reg.publish(*cadres)
    await reg.publish(*(reg.certified(c.cadre_id) for c in cadres))
    found = await wait_events(broker.bootstrap, CHANGED, lambda b: b["eligible"], count=5)
    assert sorted(b["cadre_id"] for _, b in found) == sorted(c.cadre_id for c in cadres[:5])  # longest tenure first
    newest = cadres[5].cadre_id

    # The longest-serving cadre leaves: the sixth moves up under the cap of 5.
    gone = ev.CadreDeactivated(
        cadre_id=cadres[0].cadre_id,
        kelurahan_code=KEL_A,
        kecamatan_code="64.71.01",
        reason="moved away",
        effective_on=date(2026, 11, 15),
    )
    await reg.publish(gone)
    [(_, up)] = await wait_events(broker.bootstrap, CHANGED, lambda b: b["cadre_id"] == newest)
    assert up["eligible"] and {r["rule"]: r for r in up["reasons"]}["posyandu_cap"]["fact"].startswith("rank 5 ")
    [(_, left)] = await wait_events(
        broker.bootstrap, CHANGED, lambda b: b["cadre_id"] == cadres[0].cadre_id and not b["eligible"]
    )
    assert [r["rule"] for r in left["reasons"] if not r["passed"]] == ["cadre_active"]

    # The Posyandu closes: every cadre still eligible there loses it, naming the closure.
    [closed_env] = await reg.publish(
        ev.PosyanduClosed(
            posyandu_id=pid,
            kelurahan_code=KEL_A,
            kecamatan_code="64.71.01",
            name="Posyandu Melati",
            closure="closed",
            closed_on=date(2026, 11, 19),
        )
    )
    lost = await wait_events(broker.bootstrap, CHANGED, lambda b: not b["eligible"] and b["previous_eligible"], count=6)
    closures = [b for _, b in lost if b["cadre_id"] != cadres[0].cadre_id]
    assert len(closures) == 5
    for b in closures:
        [reason] = [r for r in b["reasons"] if not r["passed"]]
        assert reason["rule"] == "posyandu_open" and reason["source_event_ids"] == [closed_env.id]
        assert reason["fact"] == "Posyandu Posyandu Melati closed on 2026-11-19"

    # Payment details arrive encrypted on the private topic and stay encrypted at rest.
    envs = await reg.publish(reg.payment_details(newest, "998877"))
    await settled(svc, envs)
    async with svc.runtime.sessions() as session:
        row = (await session.execute(select(PaymentDetailsRow))).scalar_one()
    assert row.cadre_id == newest and "998877" not in (row.account_number_enc or "")
    assert FieldCipher(PAYMENT_KEY).decrypt(row.account_number_enc) == "998877"
