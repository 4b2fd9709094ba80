"""The reads the console makes of certification and incentives, over HTTP with keys and the
real broker: certified cadres per area and level after cadres are certified from the
registry's events, the expiry windows and the trainings list; and in incentives, what changed
between two calculated periods after a Posyandu is verified, the fairness flag and one
cadre's amount explained."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from sikader_shared import events as ev
from sikader_shared.testing.paging import walk_pages as walk
from tests.certification.support import assessment, known, publish, registered, start_certification
from tests.certification.support import key as certification_key
from tests.incentives.helpers import KEL_A, KEL_C, Registry, key, settled, start_incentives

pytestmark = pytest.mark.integration

OCT, NOV = "2026-10", "2026-11"


async def test_certified_statistics_expiry_windows_and_trainings(broker: Any, databases: Any, run_service: Any) -> None:
    svc = await start_certification(broker, databases, run_service)
    assessor = await certification_key(svc.runtime, "puskesmas-ki", "certification:assess")
    trainer = await certification_key(svc.runtime, "dinkes", "certification:train")
    reader = await certification_key(svc.runtime, "dprd", "registry:read")  # any key reads certification
    siti = registered("Siti Aminah")
    nur = registered("Nur Aisyah").model_copy(update={"kelurahan_code": "64.71.05.1003", "kecamatan_code": "64.71.05"})
    await publish(broker.bootstrap, siti, nur)
    async with svc.client(assessor) as assess, svc.client(trainer) as train, svc.client(reader) as read:
        await known(read, siti.cadre_id)
        await known(read, nur.cadre_id)
        empty = (await read.get("/statistics/certified")).json()
        assert empty["city"]["total"] == 0 and empty["kecamatan"] == []
        for cadre, groups in ((siti, ("1", "2", "3")), (nur, ("1", "2", "3", "4"))):
            r = await assess.post("/assessments", json=assessment(cadre.cadre_id, *groups))
            assert r.status_code == 201, r.text

        stats = (await read.get("/statistics/certified")).json()
        assert stats["as_of"] == "2026-11-20" and stats["levels"] == ["Purwa", "Madya", "Utama"]
        assert [(k["kecamatan_code"], k["by_level"], k["total"]) for k in stats["kecamatan"]] == [
            ("64.71.02", {"Purwa": 1, "Madya": 0, "Utama": 0}, 1),
            ("64.71.05", {"Purwa": 0, "Madya": 1, "Utama": 0}, 1),
        ]
        assert [k["kelurahan_code"] for k in stats["kelurahan"]] == ["64.71.02.1001", "64.71.05.1003"]
        assert stats["city"]["by_level"] == {"Purwa": 1, "Madya": 1, "Utama": 0} and stats["city"]["total"] == 2

        # issued today for three years: nothing expires within 90 days
        assert (await read.get("/statistics/expiring")).json() == {
            "as_of": "2026-11-20",
            "within_30": 0,
            "within_60": 0,
            "within_90": 0,
        }
        r = await read.get("/certificates/expiring", params={"within_days": 90})
        assert r.status_code == 200 and r.json() == [] and "link" not in r.headers
        bad = await read.get("/certificates/expiring", params={"within_days": 45})
        assert bad.status_code == 422 and bad.json()["field"] == "within_days" and bad.json()["allowed"] == [30, 60, 90]

        for title, start in (("Pelatihan pertama", "2026-11-02"), ("Pelatihan kedua", "2026-11-09")):
            r = await train.post(
                "/trainings",
                json={
                    "title": title,
                    "skill_codes": ["2.1"],
                    "started_on": start,
                    "ends_on": start,
                    "participants": [siti.cadre_id, nur.cadre_id],
                },
            )
            assert r.status_code == 201, r.text
        items, pages = await walk(read, "/trainings", {"status": "scheduled", "limit": 1})
        assert pages == 2 and [t["title"] for t in items] == ["Pelatihan kedua", "Pelatihan pertama"]
        assert items[0]["participants"] == 2 and items[0]["created_by"] == "dinkes"
        assert (await read.get("/trainings", params={"status": "completed"})).json() == []
        assert (await read.get("/trainings", params={"status": "planned"})).status_code == 422
    async with svc.client(None) as anonymous:
        assert (await anonymous.get("/statistics/certified")).status_code == 401


async def test_changes_between_two_calculations_fairness_and_an_explained_amount(
    broker: Any, databases: Any, run_service: Any
) -> None:
    svc = await start_incentives(run_service, broker, databases)
    reg = Registry(broker.bootstrap)
    pa, _ = await reg.posyandu(KEL_A, name="Melati")
    pc, _ = await reg.posyandu(KEL_C, verified=False, name="Anggrek")
    a = [reg.cadre_registered(pa, KEL_A, joined=date(2012 + i, 1, 1), name=f"Kader A{i}") for i in range(2)]
    c = [reg.cadre_registered(pc, KEL_C, name=f"Kader C{i}") for i in range(2)]
    envs = await reg.publish(*a, *c)
    envs += await reg.publish(*(reg.certified(x.cadre_id, "Madya", x.kelurahan_code) for x in a + c))
    await settled(svc, envs)
    calculator = await key(svc, "dinkes", "incentives:calculate", "incentives:read")
    reader = await key(svc, "bpkad", "incentives:read")
    stranger = await key(svc, "dprd", "registry:read")
    async with svc.client(calculator) as calc, svc.client(reader) as read, svc.client(stranger) as other:
        assert (await calc.post(f"/periods/{OCT}/calculate")).status_code == 200
        first = await read.get(f"/periods/{OCT}/changes")
        assert first.status_code == 409 and first.json()["reason"] == "no_previous_calculation"
        assert (await read.get(f"/periods/{NOV}/changes")).status_code == 404

        fairness = (await read.get(f"/periods/{OCT}/fairness")).json()
        by_kel = {k["kelurahan_code"]: k for k in fairness["kelurahan"]}
        assert (by_kel[KEL_A]["amount_per_cadre"], by_kel[KEL_C]["amount_per_cadre"]) == (350_000.0, 0.0)
        assert fairness["city_median_amount_per_cadre"] == 175_000.0 and fairness["fairness_flag_ratio"] == 0.8
        assert (by_kel[KEL_A]["below_threshold"], by_kel[KEL_C]["below_threshold"]) == (False, True)

        # Posyandu Anggrek is verified in November: its two cadres are added
        verified = ev.PosyanduFacilityVerified(
            posyandu_id=pc,
            kelurahan_code=KEL_C,
            kecamatan_code=KEL_C[:8],
            name="Posyandu Anggrek",
            verified_by="dinkes",
            verified_at=datetime(2026, 11, 5, 2, tzinfo=UTC),
        )
        [env] = await reg.publish(verified)
        await settled(svc, [env])
        assert (await calc.post(f"/periods/{NOV}/calculate")).status_code == 200

        r = await read.get(f"/periods/{NOV}/changes", params={"limit": 1})
        assert r.status_code == 200, r.text
        changes = r.json()
        assert changes["previous_period"] == OCT
        assert changes["counts"] == {"added": 2, "dropped": 0, "amount_changed": 0, "posyandu_verification": 1}
        assert len(changes["added"]) == 1 and changes["more"]["added"] is True
        assert changes["added"][0]["causes"][0]["rule"] == "posyandu_verified"
        assert env.id in changes["added"][0]["causes"][0]["source_event_ids"]
        [posyandu] = changes["posyandu_verification"]
        assert posyandu["cause"]["event_id"] == env.id and posyandu["cause"]["event_type"] == "PosyanduFacilityVerified"
        added, pages = await walk(read, f"/periods/{NOV}/changes/added", {"limit": 1})
        assert pages == 2 and sorted(x["cadre_id"] for x in added) == sorted(x.cadre_id for x in c)
        assert (await other.get(f"/periods/{NOV}/changes")).status_code == 403

        explained = (await read.get(f"/periods/{NOV}/decisions/{c[0].cadre_id}")).json()
        assert (explained["policy"]["version"], explained["eligible"], explained["amount"]) == ("v1", True, 350_000)
        assert explained["amount_steps"]["before_cap"] == explained["amount_steps"]["after_cap"] == 350_000
        page = await read.get(f"/periods/{NOV}/decisions/{c[0].cadre_id}/explanation.html")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "Berhak menerima insentif" in page.text and "<script" not in page.text
        english = await read.get(f"/periods/{NOV}/decisions/{c[0].cadre_id}/explanation.html", params={"lang": "en"})
        assert "Eligible for the incentive" in english.text
        assert (await read.get(f"/periods/{NOV}/decisions/no-such-cadre")).status_code == 404
