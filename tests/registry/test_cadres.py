"""The cadre register over HTTP, the real broker and database: registration with NIK
checks, masking and the PII read log, search, assignment history, status changes, contact
and payment details only encrypted on the private topic, and closure/merger of a Posyandu
reassigning its cadres."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from registry.adapters.tables import CadreRow
from sikader_shared import topics
from sikader_shared.crypto import FieldCipher
from sikader_shared.db import AuditRecord, OutboxRecord, PiiReadRecord
from sikader_shared.envelope import REQUIRED_HEADERS
from sikader_shared.testing.kafka import headers_of, read_topic, wait_for
from tests.conftest import CONTACT_KEY, PAYMENT_KEY
from tests.registry.conftest import Registry, body, make_nik

pytestmark = pytest.mark.integration

SITI_NIK = make_nik(date(1990, 8, 15), "F")  # 6471015508900001
SITI = {
    "nik": SITI_NIK,
    "name": "Siti Aminah",
    "sex": "F",
    "birth_date": "1990-08-15",
    "phone": "0812-3456-7890",
    "email": "Siti@Example.org",
    "address": "Jl. Jend. Sudirman No. 1, RT 012",
    "roles": ["posyandu_cadre", "pkk"],
    "posyandu_role": "ketua",
    "joined_on": "2019-03-01",
    "payment": {"method": "bank", "bank": "BPD_KALTIMTARA", "account_number": "0012345678"},
}


async def _posyandu(c, name: str, kelurahan: str = "64.71.06.1002") -> str:  # type: ignore[no-untyped-def]
    r = await c.post("/posyandu", json={"name": name, "kelurahan_code": kelurahan, "posyandu_type": "balita"})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_cadre_register_mask_pii_log_and_private_events(registry: Registry) -> None:
    bootstrap = registry.runtime.settings.kafka_bootstrap_servers
    async with registry.client("writer") as w:
        melati = await _posyandu(w, "Melati")
        outbox_before = await registry.count(OutboxRecord)
        bad = {
            "nik": (await w.post("/cadres", json={**SITI, "nik": "6471015508910001", "posyandu_id": melati})),
            "sex": (await w.post("/cadres", json={**SITI, "sex": "M", "posyandu_id": melati})),
            "region": (await w.post("/cadres", json={**SITI, "nik": "3171015508900001", "posyandu_id": melati})),
            "short": (await w.post("/cadres", json={**SITI, "nik": "64710155089", "posyandu_id": melati})),
            "phone": (await w.post("/cadres", json={**SITI, "phone": "12345", "posyandu_id": melati})),
            "kelurahan": (await w.post("/cadres", json={**SITI, "kelurahan_code": "64.71.07.1001"})),
            "posyandu": (await w.post("/cadres", json={**SITI, "posyandu_id": "00000000-0000-4000-8000-000000000000"})),
            "nowhere": (await w.post("/cadres", json=SITI)),
        }
        for what, r in bad.items():
            assert r.status_code == 422, (what, r.text)
        assert bad["nik"].json()["errors"][0]["loc"] == ["body", "nik"]
        assert "contradicts the stated birth date" in bad["nik"].json()["detail"]
        assert "other sex" in bad["sex"].json()["detail"]
        assert "region" in bad["region"].json()["detail"]
        assert bad["phone"].json()["errors"][0]["loc"] == ["body", "phone"]
        assert bad["kelurahan"].json()["errors"][0]["loc"] == ["body", "kelurahan_code"]
        assert bad["posyandu"].json()["errors"][0]["loc"] == ["body", "posyandu_id"]
        assert await registry.count(CadreRow) == 0 and await registry.count(OutboxRecord) == outbox_before

        r = await w.post("/cadres", json={**SITI, "posyandu_id": melati})
        assert r.status_code == 201, r.text
        siti = r.json()
        # A key without registry:pii sees masked personal data.
        assert siti["nik"] == "**************01" and siti["phone"] == "+62*********90" and siti["pii_masked"]
        assert siti["email"] == "***@***" and siti["address"] == "***"
        assert siti["birth_date"] is None and siti["birth_year"] == int(str(SITI["birth_date"])[:4])
        assert siti["payment"] == {
            "method": "bank",
            "bank": "BPD_KALTIMTARA",
            "account_number": "******5678",
            "account_holder": "S***",
        }
        assert (siti["kelurahan_code"], siti["posyandu_id"], siti["posyandu_role"]) == (
            "64.71.06.1002",
            melati,
            "ketua",
        )
        dup = await w.post("/cadres", json={**SITI, "name": "Siti A.", "posyandu_id": melati})
        # without registry:pii the 409 does not say which cadre holds the NIK (it would confirm a guess)
        assert dup.status_code == 409 and "existing_cadre_id" not in dup.json()
        guess = await w.post("/cadres/search", json={"nik": SITI_NIK})
        assert guess.status_code == 403 and "registry:pii" in guess.json()["detail"]
        budi = (
            await w.post(
                "/cadres",
                json={
                    "nik": make_nik(date(1985, 2, 15), "M", "647103", 7),
                    "name": "Budi Santoso",
                    "sex": "M",
                    "birth_date": "1985-02-15",
                    "kelurahan_code": "64.71.03.1006",
                    "roles": ["social_worker"],
                },
            )
        ).json()
        assert budi["posyandu_id"] is None and budi["kecamatan_code"] == "64.71.03" and budi["payment"] is None
        assert (await w.get(f"/cadres/{siti['id']}")).json()["nik"] == "**************01"
    assert await registry.count(PiiReadRecord) == 0

    # registry:pii sees everything, and every such read is logged.
    async with registry.client("pii") as p:
        full = (await p.get(f"/cadres/{siti['id']}")).json()
        found = (await p.post("/cadres/search", json={"nik": SITI_NIK})).json()
    async with registry.client("admin") as a:  # registry:pii (admin) and registry:write
        dup = await a.post("/cadres", json={**SITI, "name": "Siti A.", "posyandu_id": melati})
    assert dup.status_code == 409 and dup.json()["existing_cadre_id"] == siti["id"]
    assert (full["nik"], full["phone"], full["email"]) == (SITI_NIK, "+6281234567890", "siti@example.org")
    assert full["birth_date"] == SITI["birth_date"]
    assert full["payment"]["account_number"] == "0012345678" and full["payment"]["account_holder"] == "Siti Aminah"
    assert [c["id"] for c in found["items"]] == [siti["id"]] and not found["items"][0]["pii_masked"]
    async with registry.runtime.sessions() as session:
        logged = list((await session.execute(select(PiiReadRecord).order_by(PiiReadRecord.id))).scalars())
    assert [(x.actor_client, x.entity_id) for x in logged] == [("dinsos-pii", siti["id"])] * 2
    assert logged[0].fields == ["nik", "phone", "email", "address", "payment"]
    assert logged[0].route == f"GET /cadres/{siti['id']}"

    # Search: name, NIK (body only), Posyandu, kelurahan, status, role, pagination.
    async with registry.client("reader") as c:
        by_name = (await c.get("/cadres", params={"name": "AMINAH"})).json()
        by_nik = (await c.post("/cadres/search", json={"name": "Siti Aminah"})).json()
        by_posyandu = (await c.get("/cadres", params={"posyandu_id": melati})).json()
        by_kel = (await c.get("/cadres", params={"kelurahan_code": "64.71.03.1006", "status": "active"})).json()
        by_role = (await c.get("/cadres", params={"role": "social_worker"})).json()
        page2 = (await c.get("/cadres", params={"page_size": 1, "page": 2})).json()
        bad_nik = await c.post("/cadres/search", json={"nik": "123"})
    assert [x["id"] for x in by_name["items"]] == [siti["id"]] and by_nik["items"][0]["nik"] == "**************01"
    assert [x["id"] for x in by_posyandu["items"]] == [siti["id"]]
    # Each listed cadre carries its Posyandu's name (read in the list's query); none without one.
    assert by_posyandu["items"][0]["posyandu_name"] == "Melati" == by_nik["items"][0]["posyandu_name"]
    assert by_kel["items"][0]["posyandu_name"] is None
    assert [x["id"] for x in by_kel["items"]] == [budi["id"]] == [x["id"] for x in by_role["items"]]
    assert page2["total"] == 2 and [x["id"] for x in page2["items"]] == [siti["id"]]  # ordered by name
    assert bad_nik.status_code == 422

    # Changes: contact, payment, public fields; deactivate, reactivate.
    async with registry.client("writer") as w:
        upd = await w.patch(f"/cadres/{siti['id']}", json={"phone": "+62 813 1111 2222", "roles": ["posyandu_cadre"]})
        assert upd.status_code == 200 and upd.json()["phone"] == "+62*********22"
        pay = await w.patch(f"/cadres/{siti['id']}", json={"payment": {"method": "e_wallet", "bank": "DANA",
                                                                        "account_number": "081311112222"}})  # fmt: skip
        assert pay.status_code == 200 and pay.json()["payment"]["method"] == "e_wallet"
        bad_birth = await w.patch(f"/cadres/{siti['id']}", json={"birth_date": "1990-08-16"})
        assert bad_birth.status_code == 422 and bad_birth.json()["errors"][0]["loc"] == ["body", "nik"]
        no_reason = await w.post(f"/cadres/{siti['id']}/deactivation", json={})
        assert no_reason.status_code == 422
        off = await w.post(
            f"/cadres/{siti['id']}/deactivation", json={"reason": "moved away", "effective_on": "2026-11-01"}
        )
        assert off.status_code == 200 and off.json()["status"] == "inactive"
        assert (await w.post(f"/cadres/{siti['id']}/deactivation", json={"reason": "again"})).status_code == 409
        on = await w.post(f"/cadres/{siti['id']}/reactivation", json={"reason": "back", "effective_on": "2026-11-20"})
        assert on.status_code == 200 and on.json()["status"] == "active"
    async with registry.runtime.sessions() as session:
        audit = list((await session.execute(select(AuditRecord).where(AuditRecord.entity_id == siti["id"]))).scalars())
    assert [a.action for a in audit] == ["cadre.register", "cadre.update", "cadre.update", "cadre.deactivate",
                                         "cadre.reactivate"]  # fmt: skip
    assert audit[1].after is not None and audit[1].after["personal_data_changed"] == ["phone"]
    assert SITI_NIK not in str([a.after for a in audit]) and "3456" not in str([a.after for a in audit])

    # Events: public topic without personal data; private topic encrypted.
    cid = siti["id"].encode()
    public = await wait_for(bootstrap, topics.CADRE, lambda m: m.key == cid, count=4)
    assert [headers_of(m)["ce_type"].split(".")[2] for m in public] == [
        "CadreRegistered", "CadreUpdated", "CadreDeactivated", "CadreReactivated"
    ]  # fmt: skip
    for m in public:
        assert set(REQUIRED_HEADERS) <= set(headers_of(m)) and headers_of(m)["ce_subject"] == siti["id"]
    registered = body(public[0])
    assert registered["posyandu_id"] == melati and registered["roles"] == ["posyandu_cadre", "pkk"]
    assert body(public[1])["changed"] == ["roles"] and body(public[2])["reason"] == "moved away"
    private = await wait_for(bootstrap, topics.CADRE_PRIVATE, lambda m: m.key == cid, count=4)
    types = [headers_of(m)["ce_type"].split(".")[2] for m in private]
    assert types == ["CadreContactChanged", "CadrePaymentDetailsChanged", "CadreContactChanged",
                     "CadrePaymentDetailsChanged"]  # fmt: skip
    contact, payment = FieldCipher(CONTACT_KEY), FieldCipher(PAYMENT_KEY)
    first_contact, last_contact, last_payment = body(private[0]), body(private[2]), body(private[3])
    assert contact.decrypt(first_contact["phone_enc"]) == "+6281234567890"
    assert contact.decrypt(first_contact["address_enc"]) == SITI["address"]
    assert contact.decrypt(last_contact["phone_enc"]) == "+6281311112222"
    assert (
        payment.decrypt(last_payment["account_number_enc"]) == "081311112222" and last_payment["method"] == "e_wallet"
    )
    assert first_contact["key_id"] == contact.key_id
    everything = [
        *(await read_topic(bootstrap, topics.CADRE)),
        *(await read_topic(bootstrap, topics.POSYANDU)),
        *(await read_topic(bootstrap, topics.CADRE_PRIVATE)),
    ]
    for m in everything:  # no NIK anywhere; no plaintext contact or account anywhere
        # (a bare "0812" could sit inside a random UUID: the phone's longer forms are checked)
        for secret in (SITI_NIK, "6281234567890", "0812-3456", "08123456", "Sudirman", "0012345678", "example.org"):
            assert secret.encode() not in m.value, secret


async def test_assignment_history_closure_and_merger(registry: Registry) -> None:
    bootstrap = registry.runtime.settings.kafka_bootstrap_servers
    async with registry.client("writer") as w:
        melati = await _posyandu(w, "Melati")
        mawar = await _posyandu(w, "Mawar", "64.71.01.1004")
        kenanga = await _posyandu(w, "Kenanga")
        ids = []
        for i in range(3):
            r = await w.post(
                "/cadres",
                json={"nik": make_nik(date(1980, 1, 10 + i), "F", serial=i + 1), "name": f"Kader {i}", "sex": "F",
                      "birth_date": f"1980-01-{10 + i}", "posyandu_id": melati, "joined_on": "2020-01-01"},
            )  # fmt: skip
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        # Transfer one cadre: history kept, kelurahan follows the new Posyandu.
        moved = await w.post(f"/cadres/{ids[0]}/assignment", json={"posyandu_id": mawar, "assigned_on": "2026-06-01"})
        assert moved.status_code == 200 and moved.json()["kecamatan_code"] == "64.71.01"
        same = await w.post(f"/cadres/{ids[0]}/assignment", json={"posyandu_id": mawar})
        assert same.status_code == 409
        history = (await w.get(f"/cadres/{ids[0]}/assignments")).json()
        assert [(h["posyandu_id"], h["start_on"], h["end_on"]) for h in history] == [
            (melati, "2020-01-01", "2026-06-01"),
            (mawar, "2026-06-01", None),
        ]
        # Merge Melati into Kenanga: its two remaining cadres move.
        self_merge = await w.post(
            f"/posyandu/{melati}/closure", json={"closure": "merged", "merged_into_posyandu_id": melati}
        )
        assert self_merge.status_code == 422
        no_target = await w.post(f"/posyandu/{melati}/closure", json={"closure": "merged"})
        assert no_target.status_code == 422 and no_target.json()["errors"][0]["loc"] == [
            "body",
            "merged_into_posyandu_id",
        ]
        merged = await w.post(
            f"/posyandu/{melati}/closure",
            json={
                "closure": "merged",
                "merged_into_posyandu_id": kenanga,
                "reason": "one RW",
                "closed_on": "2026-12-01",
            },
        )
        assert merged.status_code == 200, merged.text
        assert sorted(merged.json()["reassigned_cadre_ids"]) == sorted(ids[1:])
        assert (await w.get(f"/posyandu/{melati}")).json()["status"] == "merged"
        late = {"facility_status": "none", "assessed_by": "x", "assessed_on": "2026-11-01"}
        assert (await w.post(f"/posyandu/{melati}/assessments", json=late)).status_code == 409
        into_closed = await w.post(f"/cadres/{ids[0]}/assignment", json={"posyandu_id": melati})
        assert into_closed.status_code == 409
        # Close Mawar without a receiving Posyandu: its cadre is left unassigned.
        closed = await w.post(f"/posyandu/{mawar}/closure", json={"closure": "closed", "reason": "no more volunteers"})
        assert closed.status_code == 200 and closed.json()["unassigned_cadre_ids"] == [ids[0]]
        after = [(await w.get(f"/cadres/{i}")).json() for i in ids]
    assert [a["posyandu_id"] for a in after] == [None, kenanga, kenanga]
    assert {a["kelurahan_code"] for a in after[1:]} == {"64.71.06.1002"}

    closed_events = await wait_for(
        bootstrap, topics.POSYANDU, lambda m: headers_of(m)["ce_type"] == "sikader.registry.PosyanduClosed.v1", count=2
    )
    merger = next(body(m) for m in closed_events if body(m)["posyandu_id"] == melati)
    assert merger["closure"] == "merged" and merger["merged_into_posyandu_id"] == kenanga
    assert sorted(merger["reassigned_cadre_ids"]) == sorted(ids[1:]) and merger["closed_on"] == "2026-12-01"
    assigned = await wait_for(
        bootstrap, topics.CADRE, lambda m: headers_of(m)["ce_type"] == "sikader.registry.CadreAssigned.v1", count=3
    )
    by_cadre = {body(m)["cadre_id"]: body(m) for m in assigned if body(m)["reason"] == "posyandu_merged"}
    assert set(by_cadre) == set(ids[1:])
    assert all(e["posyandu_id"] == kenanga and e["previous_posyandu_id"] == melati for e in by_cadre.values())
    transfer = next(body(m) for m in assigned if body(m)["cadre_id"] == ids[0])
    assert (transfer["previous_posyandu_id"], transfer["kecamatan_code"], transfer["reason"]) == (
        melati,
        "64.71.01",
        "transfer",
    )
    unassigned = await wait_for(
        bootstrap,
        topics.CADRE,
        lambda m: m.key == ids[0].encode() and headers_of(m)["ce_type"] == "sikader.registry.CadreUpdated.v1",
    )
    assert body(unassigned[0])["posyandu_id"] is None
