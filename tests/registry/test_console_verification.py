"""The console's verification page over HTTP (real broker and database): the queue with what
is missing, the same words in a refused VERIFIED, and RETURNED (sent back for correction)
listed, filtered and counted."""

from __future__ import annotations

import pytest

from tests.registry.conftest import Registry

pytestmark = pytest.mark.integration

KLANDASAN_ILIR = "64.71.06.1002"
ASSESSMENT = {
    "facility_status": "resident_house",
    "equipment": [{"item": "dacin", "available": True}],
    "assessed_by": "Puskesmas Klandasan Ilir",
    "assessed_on": "2026-11-02",
}


async def test_queue_refusal_and_sending_back(registry: Registry) -> None:
    async with registry.client("writer") as w:
        r = await w.post(
            "/posyandu",
            json={
                "name": "Posyandu Melati",
                "kelurahan_code": KLANDASAN_ILIR,
                "posyandu_type": "balita",
                "latitude": -1.271234,
                "longitude": 116.828765,
            },
        )
        pid = r.json()["id"]
        assert (await w.post(f"/posyandu/{pid}/assessments", json=ASSESSMENT)).status_code == 201
        assert (await w.get("/posyandu/verification-queue")).status_code == 200  # registry:read
    async with registry.client("reader") as r:
        queue = await r.get("/posyandu/verification-queue")
    assert queue.status_code == 200, queue.text
    [item] = queue.json()["items"]
    assert queue.json()["total"] == 1 and item["posyandu"]["id"] == pid
    assert item["posyandu"]["location_precision"] == "approximate" and item["posyandu"]["latitude"] == -1.272
    assert item["latest_assessment"]["equipment"] == [{"item": "dacin", "available": True, "functional": None}]
    assert item["assessment_count"] == 1 and item["institution"]["sk_number"] is None
    assert [g["code"] for g in item["missing"] if g["blocking"]] == ["no_sk"]
    no_sk = next(g for g in item["missing"] if g["code"] == "no_sk")
    assert "SK" in no_sk["message_id"] and "SK" in no_sk["message_en"]

    async with registry.client("verifier") as v:
        refused = await v.post(f"/posyandu/{pid}/verification", json={"decision": "VERIFIED"})
        no_reason = await v.post(f"/posyandu/{pid}/verification", json={"decision": "RETURNED"})
        returned = await v.post(
            f"/posyandu/{pid}/verification",
            json={"decision": "RETURNED", "reason": "attach the SK and a readable photo"},
            headers={"Idempotency-Key": "return-melati-1"},
        )
        replay = await v.post(
            f"/posyandu/{pid}/verification",
            json={"decision": "RETURNED", "reason": "attach the SK and a readable photo"},
            headers={"Idempotency-Key": "return-melati-1"},
        )
        decisions = (await v.get(f"/posyandu/{pid}/verifications")).json()
        after = (await v.get("/posyandu/verification-queue")).json()
        listed = (await v.get("/posyandu", params={"verification_status": "RETURNED"})).json()
        stats = (await v.get("/statistics/mapping")).json()
        fresh = (await v.get(f"/posyandu/{pid}")).json()
    assert refused.status_code == 409
    assert refused.json()["detail"] == no_sk["message_en"] and refused.json()["missing"] == [no_sk]
    assert no_reason.status_code == 422
    assert returned.status_code == 201 and returned.json()["decision"] == "RETURNED"
    assert replay.status_code == 201 and replay.json() == returned.json()
    assert [d["decision"] for d in decisions] == ["RETURNED"]
    assert decisions[0]["reason"] == "attach the SK and a readable photo"
    assert after == {"items": [], "total": 0}
    assert [p["id"] for p in listed["items"]] == [pid] and fresh["verification_status"] == "RETURNED"
    assert stats["by_verification_status"]["RETURNED"] == 1


async def test_queue_items_carry_every_assessment_of_their_posyandu(registry: Registry) -> None:
    """The queue page's items hold each Posyandu's assessments (read for the page at once),
    the same as GET /posyandu/{id}/assessments gives: the console asks no more per card."""
    ids = []
    async with registry.client("writer") as w:
        for name, dates in (("Posyandu Mawar", ["2026-10-01", "2026-11-03"]), ("Posyandu Kenanga", ["2026-11-04"])):
            body = {"name": name, "kelurahan_code": KLANDASAN_ILIR, "posyandu_type": "balita"}
            pid = (await w.post("/posyandu", json=body)).json()["id"]
            for on in dates:
                made = await w.post(f"/posyandu/{pid}/assessments", json={**ASSESSMENT, "assessed_on": on})
                assert made.status_code == 201, made.text
            ids.append(pid)
    async with registry.client("reader") as r:
        queue = (await r.get("/posyandu/verification-queue")).json()
        separately = {pid: (await r.get(f"/posyandu/{pid}/assessments")).json() for pid in ids}
    by_id = {item["posyandu"]["id"]: item for item in queue["items"]}
    assert set(by_id) == set(ids)
    for pid in ids:
        assert by_id[pid]["assessments"] == separately[pid]
        assert len(by_id[pid]["assessments"]) == by_id[pid]["assessment_count"]
    assert [a["assessed_on"] for a in by_id[ids[0]]["assessments"]] == ["2026-10-01", "2026-11-03"]
