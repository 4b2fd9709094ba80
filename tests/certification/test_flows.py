"""Certification over the real broker and database: registry events feed the projection,
assessments certify, certificates follow their holder, and everything reaches the broker
with the contract's envelope."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from certification.adapters.printing import qr_svg
from certification.adapters.tables import CertificateRow
from certification.handlers.certificates import run_expiry_sweep
from sikader_shared import topics
from sikader_shared.clock import FixedClock
from sikader_shared.db import OutboxRecord
from sikader_shared.events import (
    CadreAssigned,
    CadreCertified,
    CadreUpdated,
    CertificateRenewed,
    CertificateSuspended,
    TrainingCompleted,
)
from sikader_shared.testing.kafka import publish_raw
from tests.certification.support import (
    START,
    assessment,
    certification_events,
    deactivated,
    eventually,
    key,
    known,
    publish,
    reactivated,
    registered,
    start_certification,
)

pytestmark = pytest.mark.integration


async def statuses(runtime: Any) -> dict[str, tuple[str, str]]:
    async with runtime.sessions() as session:
        rows = (await session.execute(select(CertificateRow))).scalars().all()
    return {r.number: (r.status, r.expires_on.isoformat()) for r in rows}


async def outbox_size(runtime: Any) -> int:
    async with runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(OutboxRecord)) or 0)


async def test_registered_cadre_is_certified_superseded_suspended_and_restored(broker, databases, run_service) -> None:
    svc = await start_certification(broker, databases, run_service)
    assessor = await key(svc.runtime, "puskesmas-ki", "certification:assess")
    siti = registered("Siti Aminah")
    sent = await publish(broker.bootstrap, siti)
    async with svc.client(assessor) as client:
        cadre = await known(client, siti.cadre_id)
        assert (cadre["name"], cadre["kelurahan_code"], cadre["level"]) == ("Siti Aminah", "64.71.02.1001", None)

        # Groups 1 + 2 + 3 complete: Purwa.
        r = await client.post("/assessments", json=assessment(siti.cadre_id, "1", "2", "3"))
        assert r.status_code == 201, r.text
        purwa = r.json()
        assert (purwa["level"], purwa["certificate_action"]) == ("Purwa", "issue")
        assert purwa["complete_groups"] == ["1", "2", "3"] and len(purwa["badges"]) == 15
        first = purwa["certificate"]
        assert re.fullmatch(r"SKD/6471/2026/PURWA/\d{6}", first["number"])
        assert (first["issued_on"], first["expires_on"], first["status"]) == ("2026-11-20", "2029-11-20", "valid")

    [certified] = await certification_events(broker.bootstrap, "CadreCertified", siti.cadre_id)
    h = certified.pop("_headers")
    assert h["ce_type"] == "sikader.certification.CadreCertified.v1" and h["ce_source"] == "sikader/certification"
    assert h["ce_subject"] == siti.cadre_id and h["ce_actor"] == "puskesmas-ki" and h["ce_specversion"] == "1.0"
    assert h["content-type"] == "application/json" and h["ce_time"].startswith("2026-11-20T02:00:00")
    event = CadreCertified.model_validate(certified)
    assert (event.level, event.cadre_name, event.certificate_number, event.kecamatan_code) == (
        "Purwa",
        "Siti Aminah",
        first["number"],
        "64.71.02",
    )
    base = f"http://127.0.0.1:8002/certificates/{first['number']}/verify?code="
    assert event.verify_url.startswith(base) and len(event.verify_url) - len(base) >= 16  # an unguessable code
    assessed = await certification_events(broker.bootstrap, "SkillAssessed", siti.cadre_id, count=15)
    assert all(a["passed"] and a["badge_id"] and a["assessor"] == "Puskesmas Klandasan Ilir" for a in assessed)

    # Group 4 as well: Madya, a new certificate; the Purwa one is superseded.
    async with svc.client(assessor) as client:
        r = await client.post("/assessments", json=assessment(siti.cadre_id, "4"))
        madya = r.json()
        second = madya["certificate"]
        assert (madya["level"], madya["certificate_action"], madya["superseded_certificate_id"]) == (
            "Madya",
            "issue",
            first["certificate_id"],
        )
        assert second["supersedes_certificate_id"] == first["certificate_id"]
    [superseded] = await certification_events(broker.bootstrap, "CertificateSuperseded", siti.cadre_id)
    assert (superseded["certificate_number"], superseded["status"], superseded["new_level"]) == (
        first["number"],
        "superseded",
        "Madya",
    )
    assert superseded["superseded_by_number"] == second["number"]

    # Public verification needs no key; the masked holder only with the QR code's check code.
    code = second["verify_url"].split("?code=", 1)[1]
    async with svc.client() as public:
        old = (await public.get(f"/certificates/{first['number']}/verify")).json()
        new = (await public.get(f"/certificates/{second['number']}/verify", params={"code": code})).json()
        bare = (await public.get(f"/certificates/{second['number']}/verify")).json()
        wrong = (await public.get(f"/certificates/{second['number']}/verify", params={"code": "x" * 16})).json()
        unknown = await public.get("/certificates/SKD/6471/2026/UTAMA/999999/verify")
    assert old["status"] == "superseded"
    assert (new["status"], new["level"], new["holder"]) == ("valid", "Madya", "Siti A***h")
    assert (bare["status"], bare["level"], bare["holder"]) == ("valid", "Madya", None)  # numbers are sequential
    assert wrong["holder"] is None
    assert (new["issued_on"], new["expires_on"]) == ("2026-11-20", "2029-11-20")
    assert unknown.status_code == 404 and unknown.json()["status"] == "unknown"

    # The registry deactivates her: the certificate is suspended, and nothing more is certified.
    sent += await publish(broker.bootstrap, deactivated(siti.cadre_id))
    [suspended] = await certification_events(broker.bootstrap, "CertificateSuspended", siti.cadre_id)
    assert CertificateSuspended.model_validate(suspended).reason == "cadre_deactivated"
    assert (suspended["certificate_number"], suspended["status"]) == (second["number"], "suspended")
    async with svc.client(assessor) as client:
        await known(client, siti.cadre_id, status="inactive")
        refused = await client.post("/assessments", json=assessment(siti.cadre_id, "5"))
        assert refused.status_code == 409 and "inactive" in refused.json()["detail"]
        verdict = (await client.get(f"/certificates/{second['number']}/verify")).json()
        assert verdict["status"] == "suspended"

    # Reactivated: restored (a renewal by reactivation, validity unchanged).
    sent += await publish(broker.bootstrap, reactivated(siti.cadre_id))
    [restored] = await certification_events(broker.bootstrap, "CertificateRenewed", siti.cadre_id)
    restored_event = CertificateRenewed.model_validate(restored)
    assert (restored_event.basis, restored_event.status, str(restored_event.expires_on)) == (
        "reactivation",
        "valid",
        "2029-11-20",
    )
    assert restored_event.previous_expires_on == restored_event.expires_on

    # Replaying the registry's events twice changes nothing.
    async with svc.client(assessor) as client:
        await known(client, siti.cadre_id, status="active")
    before_statuses, before_outbox = await statuses(svc.runtime), await outbox_size(svc.runtime)
    skipped = svc.runtime.consumer.skipped_total
    await publish_raw(broker.bootstrap, topics.CADRE, sent + sent)
    await eventually(lambda: _true(svc.runtime.consumer.skipped_total >= skipped + 2 * len(sent)))
    # ... and an older status event re-published late (new id, old ce_time) is ignored.
    await publish(broker.bootstrap, deactivated(siti.cadre_id), at=datetime.now(UTC) - timedelta(hours=1))
    applied = svc.runtime.consumer.applied_total
    await eventually(lambda: _true(svc.runtime.consumer.applied_total >= applied + 1))
    assert await statuses(svc.runtime) == before_statuses
    assert await outbox_size(svc.runtime) == before_outbox
    async with svc.client(assessor) as client:
        assert (await client.get(f"/cadres/{siti.cadre_id}")).json()["status"] == "active"


async def _true(value: bool) -> bool:
    return value


async def _cadre_is(client: Any, cadre_id: str, **expected: str) -> bool:
    body = (await client.get(f"/cadres/{cadre_id}")).json()
    return all(body.get(k) == v for k, v in expected.items())


async def test_refusals_scopes_idempotency_and_openapi(broker, databases, run_service) -> None:
    svc = await start_certification(broker, databases, run_service)
    assessor = await key(svc.runtime, "puskesmas-ki", "certification:assess")
    trainer = await key(svc.runtime, "dinkes", "certification:train")
    active, inactive = registered("Ani Lestari"), registered("Budi Santoso", status="inactive")
    await publish(broker.bootstrap, active, inactive)
    async with svc.client(assessor) as client:
        await known(client, active.cadre_id)
        await known(client, inactive.cadre_id, status="inactive")

        unknown = await client.post("/assessments", json=assessment("no-such-cadre", "1"))
        assert unknown.status_code == 404 and unknown.json()["cadre_id"] == "no-such-cadre"
        assert "not known" in unknown.json()["detail"]
        assert (await client.post("/assessments", json=assessment(inactive.cadre_id, "1"))).status_code == 409
        wrong = [{"skill_code": "9.9", "passed": True}]
        bad_skill = await client.post("/assessments", json={**assessment(active.cadre_id), "results": wrong})
        assert bad_skill.status_code == 422 and bad_skill.json()["unknown_skill_codes"] == ["9.9"]
        twice = await client.post(
            "/assessments", json={**assessment(active.cadre_id), "results": [{"skill_code": "1.1", "passed": True}] * 2}
        )
        assert twice.status_code == 422 and twice.json()["errors"][0]["loc"] == ["body", "results"]
        future = await client.post("/assessments", json=assessment(active.cadre_id, "1", on="2026-12-01"))
        assert future.status_code == 422 and future.json()["field"] == "assessed_on"
        assert (await client.post("/trainings", json={})).status_code == 403  # assess key cannot train

        # Idempotency-Key: the repeat answers the same and emits nothing more.
        body = assessment(active.cadre_id, "1")
        first = await client.post("/assessments", json=body, headers={"Idempotency-Key": "a-1"})
        size = await outbox_size(svc.runtime)
        again = await client.post("/assessments", json=body, headers={"Idempotency-Key": "a-1"})
        assert again.status_code == 201 and again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true" and await outbox_size(svc.runtime) == size
        history = (await client.get(f"/cadres/{active.cadre_id}/history")).json()
        assert len(history["assessments"]) == 5 and history["certificates"] == []

        # The projection follows transfers and corrections.
        moved = CadreAssigned(
            cadre_id=active.cadre_id,
            kelurahan_code="64.71.05.1002",
            kecamatan_code="64.71.05",
            posyandu_id=str(uuid.uuid4()),
            previous_posyandu_id=active.posyandu_id,
            assigned_on=date(2026, 11, 20),
            reason="transfer",
        )
        after = {"name": "Ani Lestari Putri", "kelurahan_code": moved.kelurahan_code, "posyandu_id": moved.posyandu_id}
        corrected = CadreUpdated(
            **{**active.model_dump(), "kecamatan_code": "64.71.05", **after},
            changed=["name"],
            updated_at=datetime.now(UTC),
        )
        await publish(broker.bootstrap, moved)
        await eventually(lambda: _cadre_is(client, active.cadre_id, kecamatan_code="64.71.05"))
        await publish(broker.bootstrap, corrected)
        await eventually(lambda: _cadre_is(client, active.cadre_id, **after))
    async with svc.client(trainer) as client:
        training = {
            "title": "Pelatihan kader",
            "skill_codes": ["1.1"],
            "started_on": "2026-11-02",
            "ends_on": "2026-11-03",
            "participants": [active.cadre_id, "stranger"],
        }
        r = await client.post("/trainings", json=training)
        assert r.status_code == 422 and r.json()["cadre_ids"] == ["stranger"]
        r = await client.post("/trainings", json={**training, "participants": [active.cadre_id, inactive.cadre_id]})
        assert r.status_code == 409 and r.json()["cadre_ids"] == [inactive.cadre_id]
        r = await client.post("/trainings", json={**training, "ends_on": "2026-11-01"})
        assert r.status_code == 422 and "ends_on" in r.json()["errors"][0]["msg"]
    async with svc.client() as public:
        assert (await public.post("/assessments", json=body)).status_code == 401
        assert (await public.get(f"/cadres/{active.cadre_id}/history")).status_code == 401
        catalogue = (await public.get("/skills")).json()
        assert len(catalogue["groups"]) == 5 and sum(len(g["skills"]) for g in catalogue["groups"]) == 25
        assert (await public.get("/levels")).json()["levels"][0] == {
            "level": "Purwa",
            "required_groups": ["1", "2"],
            "min_complete_groups": 3,
        }
        spec = (await public.get("/openapi.json")).json()
    paths = spec["paths"]
    for path in (
        "/assessments",
        "/trainings",
        "/trainings/{training_id}/completion",
        "/certificates/{certificate_id}/revoke",
        "/certificates/{number}/verify",
        "/certificates/{number}.pdf",
        "/cadres/{cadre_id}/history",
        "/skills",
    ):
        assert path in paths, path
    schemas = spec["components"]["schemas"]
    for name in ("AssessmentCreate", "AssessmentOutcome", "TrainingCreate", "VerificationPublic", "CertificatePublic"):
        assert schemas[name].get("examples"), name
    assert paths["/assessments"]["post"]["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "AssessmentOutcome"
    )


async def test_trainings_refresher_renewal_history_printing_and_revocation(broker, databases, run_service) -> None:
    clock = FixedClock(START)
    svc = await start_certification(
        broker, databases, run_service, clock=clock, public_base_url="https://sikader.balikpapan.example"
    )
    trainer = await key(svc.runtime, "dinkes", "certification:train")
    assessor = await key(svc.runtime, "puskesmas-ki", "certification:assess")
    revoker = await key(svc.runtime, "dinkes-admin", "certification:revoke")
    reader = await key(svc.runtime, "dp3akb", "registry:read")
    siti, ani = registered("Siti Aminah"), registered("Ani Lestari")
    await publish(broker.bootstrap, siti, ani)
    async with svc.client(trainer) as client:
        await known(client, siti.cadre_id)
        await known(client, ani.cadre_id)
        r = await client.post(
            "/trainings",
            json={
                "title": "Pelatihan dasar kader Posyandu",
                "skill_codes": ["1.1", "1.2", "2.1"],
                "started_on": "2026-11-02",
                "ends_on": "2026-11-04",
                "place": "Aula Puskesmas Damai",
                "participants": [siti.cadre_id, ani.cadre_id],
            },
        )
        assert r.status_code == 201 and r.json()["organiser"] == "dinkes"
        training_id = r.json()["training_id"]
        done = await client.post(f"/trainings/{training_id}/completion", json={"attended": [siti.cadre_id]})
        assert done.status_code == 200
        assert {p["cadre_id"]: p["attended"] for p in done.json()["participants"]} == {
            siti.cadre_id: True,
            ani.cadre_id: False,
        }
        assert done.json()["completed_on"] == "2026-11-04"
        again = await client.post(f"/trainings/{training_id}/completion", json={"attended": []})
        assert again.status_code == 409
    [completed] = await certification_events(broker.bootstrap, "TrainingCompleted")
    event = TrainingCompleted.model_validate(completed)
    assert (event.cadre_id, event.training_id, event.organiser, event.place) == (
        siti.cadre_id,
        training_id,
        "dinkes",
        "Aula Puskesmas Damai",
    )
    assert completed["_headers"]["ce_actor"] == "dinkes"

    async with svc.client(assessor) as client:
        r = await client.post("/assessments", json=assessment(siti.cadre_id, "1", "2", "5"))
        cert = r.json()["certificate"]
        assert r.json()["level"] == "Purwa"

    # A year on, a refresher training renews the certificate for three years from then.
    clock.advance(timedelta(days=365))
    async with svc.client(trainer) as client:
        r = await client.post(
            "/trainings",
            json={
                "title": "Penyegaran kader",
                "skill_codes": ["2.1"],
                "started_on": "2027-11-18",
                "ends_on": "2027-11-19",
                "refresher": True,
                "participants": [siti.cadre_id],
            },
        )
        done = await client.post(f"/trainings/{r.json()['training_id']}/completion", json={"attended": [siti.cadre_id]})
        assert done.json()["renewed_certificates"] == [cert["number"]]
    [renewed] = await certification_events(broker.bootstrap, "CertificateRenewed", siti.cadre_id)
    assert (renewed["basis"], renewed["previous_expires_on"], renewed["expires_on"]) == (
        "refresher_training",
        "2029-11-20",
        "2030-11-20",
    )
    assert renewed["training_id"] == r.json()["training_id"]

    # History in one call (any key).
    async with svc.client(reader) as client:
        history = (await client.get(f"/cadres/{siti.cadre_id}/history")).json()
        assert [t["attended"] for t in history["trainings"]] == [True, True]
        assert len(history["badges"]) == 15 and history["badges"][0]["skill_name"]
        assert [(c["number"], c["status"], c["expires_on"]) for c in history["certificates"]] == [
            (cert["number"], "valid", "2030-11-20")
        ]
        assert history["cadre"]["level"] == "Purwa"
        assert (await client.get(f"/cadres/{ani.cadre_id}/history")).json()["trainings"][0]["attended"] is False

        # Printable certificate: HTML with the QR of the verify URL, and a PDF.
        verify_url = cert["verify_url"]  # with the certificate's check code
        assert verify_url.startswith(f"https://sikader.balikpapan.example/certificates/{cert['number']}/verify?code=")
        page = await client.get(f"/certificates/{cert['number']}.html")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert qr_svg(verify_url) in page.text and "Siti Aminah" in page.text and "Purwa" in page.text
        pdf = await client.get(f"/certificates/{cert['number']}.pdf")
        assert pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF") and cert["number"].encode() in pdf.content
        assert verify_url.encode() in pdf.content
        revoke_url = f"/certificates/{cert['certificate_id']}/revoke"
        assert (await client.post(revoke_url, json={"reason": "tidak sah"})).status_code == 403
    async with svc.client() as public:
        assert (await public.get(f"/certificates/{cert['number']}.pdf")).status_code == 401

    async with svc.client(revoker) as client:
        r = await client.post(f"/certificates/{cert['certificate_id']}/revoke", json={"reason": "Penilaian tidak sah"})
        assert r.status_code == 200 and r.json()["status"] == "revoked"
        again = await client.post(f"/certificates/{cert['certificate_id']}/revoke", json={"reason": "lagi"})
        assert again.status_code == 409
        assert (await client.post("/certificates/nope/revoke", json={"reason": "tidak ada"})).status_code == 404
        assert (await client.post(revoke_url, json={"reason": ""})).status_code == 422
    [revoked] = await certification_events(broker.bootstrap, "CertificateRevoked", siti.cadre_id)
    assert (revoked["reason"], revoked["revoked_by"]) == ("Penilaian tidak sah", "dinkes-admin")
    assert revoked["status"] == "revoked"
    assert revoked["_headers"]["ce_actor"] == "dinkes-admin"
    async with svc.client() as public:
        assert (await public.get(f"/certificates/{cert['number']}/verify")).json()["status"] == "revoked"


async def test_expiry_scheduler_announces_once_and_expires_on_the_date(broker, databases, run_service) -> None:
    clock = FixedClock(START)
    svc = await start_certification(broker, databases, run_service, clock=clock)
    assessor = await key(svc.runtime, "puskesmas-ki", "certification:assess")
    siti = registered()
    await publish(broker.bootstrap, siti)
    async with svc.client(assessor) as client:
        await known(client, siti.cadre_id)
        cert = (await client.post("/assessments", json=assessment(siti.cadre_id, "1", "2", "3"))).json()["certificate"]
    number = cert["number"]

    async def sweep(at: datetime) -> tuple[list[str], list[str]]:
        clock.set(at)
        async with svc.runtime.uow() as uow:
            result = await run_expiry_sweep(uow, clock.now(), notice_days=30)
            await uow.commit()
        return result.announced, result.expired

    expiry = datetime(2029, 11, 20, 2, 0, tzinfo=UTC)  # 2029-11-20 in WITA
    assert await sweep(expiry - timedelta(days=31)) == ([], [])
    assert await sweep(expiry - timedelta(days=30)) == ([number], [])
    assert await sweep(expiry - timedelta(days=10)) == ([], [])  # announced once
    async with svc.client() as public:
        assert (await public.get(f"/certificates/{number}/verify")).json()["status"] == "valid"
    assert await sweep(expiry - timedelta(hours=11)) == ([], [])  # 2029-11-19 23:00 WITA: not yet
    assert await sweep(expiry - timedelta(hours=9)) == ([], [number])  # 2029-11-20 01:00 WITA
    assert await sweep(expiry + timedelta(days=1)) == ([], [])
    [expiring] = await certification_events(broker.bootstrap, "CertificateExpiring", siti.cadre_id)
    assert (expiring["days_left"], expiring["status"], expiring["expires_on"]) == (30, "valid", "2029-11-20")
    [expired] = await certification_events(broker.bootstrap, "CertificateExpired", siti.cadre_id)
    assert (expired["expired_on"], expired["status"]) == ("2029-11-20", "expired")
    assert expired["_headers"]["ce_actor"] == "system"
    async with svc.client() as public:
        assert (await public.get(f"/certificates/{number}/verify")).json()["status"] == "expired"

    # A passed re-assessment renews the expired certificate from today.
    async with svc.client(assessor) as client:
        r = await client.post("/assessments", json=assessment(siti.cadre_id, "3", on="2029-11-20"))
        assert r.json()["certificate_action"] == "renew"
        assert (r.json()["certificate"]["status"], r.json()["certificate"]["expires_on"]) == ("valid", "2032-11-21")
    [renewed] = await certification_events(broker.bootstrap, "CertificateRenewed", siti.cadre_id)
    assert (renewed["basis"], renewed["previous_expires_on"]) == ("reassessment", "2029-11-20")
