"""Posyandu over HTTP, the real broker and database: register, update, facility assessment
history, verification by `posyandu:verify`, mapping statistics, wilayah reference data."""

from __future__ import annotations

import pytest

from registry.adapters.tables import FacilityAssessmentRow, PosyanduRow
from sikader_shared import topics
from sikader_shared.db import OutboxRecord
from sikader_shared.envelope import REQUIRED_HEADERS
from sikader_shared.testing.kafka import headers_of, of_type, read_topic, wait_for
from tests.registry.conftest import Registry, body

pytestmark = pytest.mark.integration

MELATI = {
    "name": "Posyandu Melati",
    "kelurahan_code": "64.71.06.1002",
    "posyandu_type": "balita",
    "address": "Jl. Ahmad Yani Gg. Mawar No. 3",
    "rt": "012",
    "latitude": -1.2675,
    "longitude": 116.8289,
    "puskesmas": "Puskesmas Klandasan Ilir",
}
ASSESSMENT = {
    "facility_status": "resident_house",
    "equipment": [
        {"item": "dacin", "available": True, "functional": True},
        {"item": "height_board", "available": False},
    ],
    "photo_refs": ["posyandu/melati/front.jpg"],
    "assessed_by": "Puskesmas Klandasan Ilir",
    "assessed_on": "2026-11-02",
}


async def test_wilayah_is_served_read_only(registry: Registry) -> None:
    async with registry.client("reader") as c:
        kec = (await c.get("/wilayah/kecamatan")).json()
        kel = (await c.get("/wilayah/kelurahan")).json()
        kota = (await c.get("/wilayah/kelurahan", params={"kecamatan": "64.71.06"})).json()
        assert (await c.get("/wilayah/kelurahan", params={"kecamatan": "64.71.99"})).status_code == 404
        assert (await c.post("/wilayah/kecamatan", json={})).status_code == 405
    assert [k["code"] for k in kec] == ["64.71.01", "64.71.02", "64.71.03", "64.71.04", "64.71.05", "64.71.06"]
    assert len(kel) == 34 and sum(k["kelurahan_count"] for k in kec) == 34
    assert {k["name"] for k in kota} == {"Damai", "Klandasan Ilir", "Klandasan Ulu", "Prapatan", "Telaga Sari"}
    async with registry.service.client() as anonymous:
        assert (await anonymous.get("/wilayah/kecamatan")).status_code == 401
        spec = (await anonymous.get("/openapi.json")).json()
    paths = ["/wilayah/kelurahan", "/posyandu", "/posyandu/{posyandu_id}/verification", "/posyandu/import", "/cadres"]
    paths += ["/cadres/search", "/cadres/{cadre_id}/assignment", "/cadres/import", "/statistics/mapping"]
    assert set(paths) <= set(spec["paths"])
    schemas = spec["components"]["schemas"]
    assert all("examples" in schemas[n] for n in ("CadreCreate", "CadrePublic", "PosyanduCreate", "ImportReport"))
    assert "text/csv" in spec["paths"]["/cadres/import"]["post"]["requestBody"]["content"]


async def test_posyandu_register_assess_verify_and_statistics(registry: Registry) -> None:
    outbox_before = await registry.count(OutboxRecord)
    async with registry.client("writer") as w:
        # Bad input: 4xx with the field, and nothing changes.
        unknown = await w.post("/posyandu", json={**MELATI, "kelurahan_code": "64.71.09.1001"})
        bad_type = await w.post("/posyandu", json={**MELATI, "posyandu_type": "toddler"})
        half_coords = await w.post("/posyandu", json={**MELATI, "longitude": None})
        assert unknown.status_code == 422 and unknown.json()["errors"][0]["loc"] == ["body", "kelurahan_code"]
        assert bad_type.status_code == 422 and bad_type.json()["errors"][0]["loc"] == ["body", "posyandu_type"]
        assert half_coords.status_code == 422
        assert await registry.count(PosyanduRow) == 0 and await registry.count(OutboxRecord) == outbox_before

        r = await w.post("/posyandu", json=MELATI)
        assert r.status_code == 201, r.text
        p = r.json()
        assert (p["status"], p["verification_status"], p["facility_status"]) == ("active", "PENDING", None)
        assert p["kecamatan_code"] == "64.71.06"
        dup = await w.post("/posyandu", json={**MELATI, "name": "MELATI ", "posyandu_type": "lansia"})
        assert dup.status_code == 409 and dup.json()["existing_posyandu_id"] == p["id"]
        other = (await w.post("/posyandu", json={**MELATI, "name": "Posyandu Mawar", "rt": "014"})).json()

        # Verification needs the scope, an assessment and the founding decree.
        assert (await w.post(f"/posyandu/{p['id']}/verification", json={"decision": "VERIFIED"})).status_code == 403
        a1 = await w.post(f"/posyandu/{p['id']}/assessments", json=ASSESSMENT)
        assert a1.status_code == 201 and a1.json()["recorded_by"] == "dinsos"
        future = await w.post(f"/posyandu/{p['id']}/assessments", json={**ASSESSMENT, "assessed_on": "2099-01-01"})
        assert future.status_code == 422 and future.json()["errors"][0]["loc"] == ["body", "assessed_on"]
    async with registry.client("verifier") as v:
        no_sk = await v.post(f"/posyandu/{p['id']}/verification", json={"decision": "VERIFIED"})
        assert no_sk.status_code == 409 and "SK" in no_sk.json()["detail"]
        no_reason = await v.post(f"/posyandu/{p['id']}/verification", json={"decision": "REJECTED"})
        assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["loc"] == ["body", "reason"]
    async with registry.client("writer") as w:
        upd = await w.patch(
            f"/posyandu/{p['id']}",
            json={
                "institution": {"sk_number": "188.4/12/KLI/2024", "sk_date": "2024-07-01"},
                "management": [{"role": "ketua"}],
            },
        )
        assert upd.status_code == 200 and upd.json()["institution"]["sk_number"] == "188.4/12/KLI/2024"
        assert (await w.patch(f"/posyandu/{p['id']}", json={"name": "Mawar"})).status_code == 409
    async with registry.client("verifier") as v:
        ok = await v.post(f"/posyandu/{p['id']}/verification", json={"decision": "VERIFIED", "note": "checked"})
        assert ok.status_code == 201 and ok.json()["assessment_id"] == a1.json()["id"]
        again = await v.post(f"/posyandu/{p['id']}/verification", json={"decision": "VERIFIED"})
        assert again.status_code == 409 and "new facility assessment" in again.json()["detail"]
    async with registry.client("writer") as w:
        # A new assessment (the Posyandu moved to the balai RT) calls for re-verification.
        a2 = await w.post(f"/posyandu/{p['id']}/assessments", json={**ASSESSMENT, "facility_status": "public_building"})
        assert a2.status_code == 201
    async with registry.client("verifier") as v:
        rej = await v.post(
            f"/posyandu/{p['id']}/verification", json={"decision": "REJECTED", "reason": "no scales at the balai"}
        )
        assert rej.status_code == 201
        history = (await v.get(f"/posyandu/{p['id']}/assessments")).json()
        decisions = (await v.get(f"/posyandu/{p['id']}/verifications")).json()
        detail = (await v.get(f"/posyandu/{p['id']}")).json()
    assert [a["facility_status"] for a in history] == ["resident_house", "public_building"]
    assert [d["decision"] for d in decisions] == ["VERIFIED", "REJECTED"] and decisions[1]["decided_by"] == "dinkes"
    assert (detail["verification_status"], detail["facility_status"]) == ("REJECTED", "public_building")
    assert await registry.count(FacilityAssessmentRow) == 2

    async with registry.client("reader") as r:
        listed = (
            await r.get("/posyandu", params={"name": "Posyandu MELATI", "verification_status": "REJECTED"})
        ).json()
        not_assessed = (await r.get("/posyandu", params={"facility_status": "not_assessed"})).json()
        paged = (await r.get("/posyandu", params={"kecamatan_code": "64.71.06", "page_size": 1, "page": 2})).json()
        stats = (await r.get("/statistics/mapping")).json()
    assert [x["id"] for x in listed["items"]] == [p["id"]]
    assert [x["id"] for x in not_assessed["items"]] == [other["id"]]
    assert paged["total"] == 2 and len(paged["items"]) == 1
    assert stats["posyandu"] == 2
    assert stats["by_verification_status"] == {"PENDING": 1, "VERIFIED": 0, "REJECTED": 1, "RETURNED": 0}
    [kota] = [k for k in stats["kecamatan"] if k["code"] == "64.71.06"]
    [kli] = [k for k in kota["kelurahan"] if k["code"] == "64.71.06.1002"]
    assert kli["by_facility_status"]["public_building"] == 1 and kli["by_facility_status"]["not_assessed"] == 1
    assert len(stats["kecamatan"]) == 6 and sum(len(k["kelurahan"]) for k in stats["kecamatan"]) == 34

    # The events, from the broker, with the contract's headers; no address or coordinates.
    pid = p["id"].encode()
    expected = [
        "PosyanduRegistered",
        "PosyanduFacilityAssessed",
        "PosyanduUpdated",
        "PosyanduFacilityVerified",
        "PosyanduFacilityAssessed",
        "PosyanduFacilityRejected",
    ]
    records = await wait_for(
        registry.runtime.settings.kafka_bootstrap_servers, topics.POSYANDU, lambda m: m.key == pid, count=6
    )
    assert [headers_of(m)["ce_type"] for m in records] == [f"sikader.registry.{n}.v1" for n in expected]
    for m in records:
        h = headers_of(m)
        assert set(REQUIRED_HEADERS) <= set(h) and h["ce_specversion"] == "1.0" and h["ce_subject"] == p["id"]
        assert h["ce_source"] == "sikader/registry" and h["content-type"] == "application/json"
        assert b"Ahmad Yani" not in m.value and b"116.8289" not in m.value
    assert headers_of(records[3])["ce_actor"] == "dinkes"
    verified = body(records[3])
    assert verified["verified_by"] == "dinkes" and verified["facility_status"] == "resident_house"
    assert body(records[2])["changed"] == ["institution", "management"]
    assert body(records[4])["verification_status"] == "PENDING"
    assert body(records[5])["reason"] == "no scales at the balai"
    everything = await read_topic(registry.runtime.settings.kafka_bootstrap_servers, topics.POSYANDU)
    assert len([m for m in everything if of_type("sikader.registry.PosyanduRegistered.v1")(m)]) == 2
