"""Issue 9, items 3 and 5: personal data (NIK, phone, email, address, account number) is
masked for a key without `registry:pii`, on every route that shows a cadre; with it the data
is shown and every such read is in the PII read log (who: client and key, when, which cadre,
which fields, which route). The incentives payment file (account numbers) is logged too."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from sikader_shared.db import PiiReadRecord
from tests.security.conftest import Platform, cadre_body, ok

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="package")]

PHONE_LOCAL, PHONE = "0813-5566-7788", "+6281355667788"
EMAIL = "yuliani.pii@example.org"
ADDRESS = "Jl. Ahmad Yani No. 12, RT 004, Klandasan Ilir"
ACCOUNT = "0071122334"


async def pii_reads(p: Platform, service: str, *where: Any) -> list[PiiReadRecord]:
    async with p.services[service].runtime.sessions() as session:
        return list(
            (await session.execute(select(PiiReadRecord).where(*where).order_by(col(PiiReadRecord.id)))).scalars()
        )


def assert_masked(cadre: dict[str, Any], nik: str) -> None:
    assert cadre["pii_masked"] is True
    assert cadre["nik"] == "*" * 14 + nik[-2:] and cadre["birth_date"] is None and cadre["birth_year"]
    assert cadre["phone"] != PHONE and "*" in cadre["phone"]
    assert cadre["email"] != EMAIL and "*" in cadre["email"]
    assert cadre["address"] == "***"
    assert cadre["payment"]["account_number"] != ACCOUNT and "*" in cadre["payment"]["account_number"]


async def test_personal_data_masked_without_registry_pii_and_every_unmasked_read_logged(platform: Platform) -> None:
    p = platform
    body = cadre_body(
        30,
        "Yuliani Pratiwi",
        posyandu_id=p.res["posyandu"],
        phone=PHONE_LOCAL,
        email=EMAIL,
        address=ADDRESS,
        payment={"method": "bank", "bank": "BPD_KALTIMTARA", "account_number": ACCOUNT},
    )
    nik = body["nik"]
    secrets = [nik, PHONE, PHONE_LOCAL, EMAIL, ADDRESS, ACCOUNT]
    async with p.client("registry", "writer") as writer:
        created = await writer.post("/cadres", json=body)  # the writer has no registry:pii
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    assert_masked(created.json(), nik)

    async with p.client("registry", "reader") as reader:
        answers = [
            await reader.get(f"/cadres/{cid}"),
            await reader.get("/cadres", params={"name": "Yuliani"}),
            await reader.post("/cadres/search", json={"name": "Yuliani"}),
        ]
        # searching by NIK would confirm a guess: registry:pii only
        by_nik = await reader.post("/cadres/search", json={"nik": nik})
    assert by_nik.status_code == 403 and nik not in by_nik.text
    for r in answers:
        assert r.status_code == 200, r.text
        assert not [s for s in secrets if s in r.text], r.text  # nothing personal, in any field
    assert_masked(answers[0].json(), nik)
    for page in (answers[1].json(), answers[2].json()):
        [item] = page["items"]
        assert_masked(item, nik)
    assert await pii_reads(p, "registry", col(PiiReadRecord.entity_id) == cid) == []  # masked reads: no log

    started = datetime.now(UTC)
    async with p.client("registry", "pii") as pii:
        shown = [
            await pii.get(f"/cadres/{cid}"),
            await pii.get("/cadres", params={"name": "Yuliani"}),
            await pii.post("/cadres/search", json={"nik": nik}),
        ]
    finished = datetime.now(UTC)
    for r in shown:
        assert r.status_code == 200, r.text
    cadres = [shown[0].json(), shown[1].json()["items"][0], shown[2].json()["items"][0]]
    for c in cadres:
        assert c["pii_masked"] is False
        assert (c["nik"], c["phone"], c["email"], c["address"]) == (nik, PHONE, EMAIL, ADDRESS)
        assert c["payment"]["account_number"] == ACCOUNT

    log = await pii_reads(p, "registry", col(PiiReadRecord.entity_id) == cid)
    assert [x.route for x in log] == [f"GET /cadres/{cid}", "GET /cadres", "POST /cadres/search"]
    for x in log:
        assert (x.actor_client, x.actor_key, x.entity_type) == ("dinsos-pii", p.key_ids["pii"], "cadre")
        assert {"nik", "phone", "email", "address", "payment"} <= set(x.fields)
        assert started <= x.at.astimezone(UTC) <= finished

    # An auditor reads the same log through the API (audit:read), filtered and paged; the
    # log names people only by id.
    async with p.client("registry", "auditor") as auditor:
        listed = ok(await auditor.get("/audit/pii-reads", params={"entity_type": "cadre", "entity_id": cid}))
        assert [(r["id"], r["route"], r["actor_client"], r["actor_key"]) for r in listed] == [
            (x.id, x.route, x.actor_client, x.actor_key) for x in log
        ]
        assert all(datetime.fromisoformat(r["at"]) == x.at.astimezone(UTC) for r, x in zip(listed, log, strict=True))
        assert not [s for s in secrets if s in str(listed)]
        rest = ok(await auditor.get("/audit/pii-reads", params={"entity_id": cid, "after": listed[0]["id"]}))
        assert [r["id"] for r in rest] == [x.id for x in log[1:]]
        by_client = ok(await auditor.get("/audit/pii-reads", params={"actor_client": "dinsos-pii", "limit": 1000}))
        assert {x.id for x in log} <= {r["id"] for r in by_client}
        assert {r["actor_client"] for r in by_client} == {"dinsos-pii"}
    async with p.client("registry", "pii") as pii:
        refused = await pii.get("/audit/pii-reads", params={"entity_id": cid})
    assert refused.status_code == 403 and "audit:read" in refused.json()["detail"]


async def test_a_key_with_registry_pii_but_not_registry_read_reads_nothing(platform: Platform) -> None:
    p = platform
    async with p.client("registry", "scope:registry:pii") as pii_only:
        r = await pii_only.get(f"/cadres/{p.res['cadre']}")
    assert r.status_code == 403 and "registry:read" in r.json()["detail"]
    assert await pii_reads(p, "registry", col(PiiReadRecord.actor_client) == "opd-registry-pii") == []


async def test_payment_file_downloads_are_in_the_pii_read_log(platform: Platform) -> None:
    """The bank file holds account numbers: each download names the OPD client and key."""
    p = platform
    period = p.res["period"]
    async with p.client("incentives", "payer") as payer:
        batches = ok(await payer.get(f"/periods/{period}/payment-batches"))
        if not batches:  # the access matrix normally exported it already
            batches = [ok(await payer.post(f"/periods/{period}/payment-batches"), 201)]
        batch = batches[0]["batch_id"]
        before = len(await pii_reads(p, "incentives", col(PiiReadRecord.entity_id) == batch))
        r = await payer.get(f"/periods/{period}/payment-batches/{batch}/file")
    assert r.status_code == 200 and ACCOUNT not in r.text  # this test's cadre is not in that month's batch
    assert "0098765432" in r.text  # the setup cadre's account, for the bank
    log = await pii_reads(p, "incentives", col(PiiReadRecord.entity_id) == batch)
    assert len(log) == before + 1
    last = log[-1]
    assert (last.actor_client, last.actor_key, last.entity_type) == (
        "bank-kaltimtara",
        p.key_ids["payer"],
        "payment_batch",
    )
    assert last.fields == ["bank", "account_number", "account_holder"]
    assert last.route == f"GET /periods/{period}/payment-batches/{batch}/file"
