"""Issue 8, item 3: the walkthrough's story end to end, with the four services as separate
processes over the real broker and the database (each service its own database).

One Posyandu from "meets in a resident's house" to re-assessed and verified; a cadre
registered there with an email; a certification assessment to Purwa; incentives eligibility;
the month calculated, approved by another OPD client, paid through a payment batch and the
bank's results, then closed. Keys are issued through the registry's operator CLI. Every state
is read back through the APIs, every event is checked on the broker with the contract's
headers, the cadre's CadreCertified email arrives at a real SMTP server and an OPD's
subscription gets a webhook whose HMAC-SHA256 signature the receiver verifies."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord

from sikader_shared import topics
from sikader_shared.clock import WITA
from sikader_shared.envelope import REQUIRED_HEADERS
from sikader_shared.testing import checks
from sikader_shared.testing.broker import free_port
from sikader_shared.testing.checks import ok
from sikader_shared.testing.devsmtp import DevMailServer
from sikader_shared.testing.kafka import headers_of, wait_for
from sikader_shared.testing.services import issue_key_with_cli
from tests.conftest import subprocess_env
from tests.notifications.support import HttpReceiver, whsec_of

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent.parent
WAIT = 120.0  # generous: four processes on a possibly loaded machine
SERVICES = ("registry", "certification", "incentives", "notifications")
SECRET = "dinkes-webhook-secret-0123456789"
CADRE_EMAIL = "rahmawati@contoh.example"
INBOX_EMAIL = "kader@dinkes.example"
KELURAHAN = "64.71.06.1002"
PUSKESMAS = "Puskesmas Klandasan Ilir"
BIRTH = date(1991, 4, 12)


def nik(birth: date, female: bool, serial: int) -> str:
    day = birth.day + (40 if female else 0)
    return f"647106{day:02d}{birth.month:02d}{birth.year % 100:02d}{serial:04d}"


eventually = partial(checks.eventually, timeout=WAIT, interval=0.3)


def of(ce_type: str, key: str) -> Callable[[ConsumerRecord[bytes, bytes]], bool]:
    return lambda r: r.key == key.encode() and headers_of(r).get("ce_type") == ce_type


async def events(
    bootstrap: str, topic: str, ce_type: str, key: str, source: str, count: int = 1
) -> list[tuple[dict[str, str], dict[str, Any]]]:
    """`count` records of `ce_type` keyed `key` on `topic`, each with the contract's headers."""
    records = await wait_for(bootstrap, topic, of(ce_type, key), timeout=WAIT, count=count)
    out = []
    for record in records:
        h = headers_of(record)
        missing = set(REQUIRED_HEADERS) - set(h)
        assert not missing, (ce_type, missing)
        assert h["ce_specversion"] == "1.0" and h["content-type"] == "application/json", h
        assert h["ce_source"] == f"sikader/{source}", h
        assert h["ce_subject"] == key, h
        assert h["ce_id"] and h["ce_actor"] and h["ce_correlationid"] and h["ce_causationid"], h
        datetime.fromisoformat(h["ce_time"].replace("Z", "+00:00"))
        out.append((h, json.loads(record.value)))
    return out


async def test_walkthrough_story_across_four_service_processes(
    broker: Any, databases: Any, run_subprocess: Any, tmp_path: Path
) -> None:
    bootstrap = broker.bootstrap
    mail = DevMailServer(tmp_path / "mail", smtp_port=free_port(), http_port=free_port()).start()
    hook = HttpReceiver(whsec_of(SECRET), legacy_secret=SECRET).start()  # both header sets
    try:
        envs = {s: subprocess_env(s, broker, databases(s), tmp_path / s) for s in SERVICES}
        envs["notifications"].update(
            {
                "SIKADER_NOTIFICATIONS_SMTP_HOST": "127.0.0.1",
                "SIKADER_NOTIFICATIONS_SMTP_PORT": str(mail.smtp_port),
                "SIKADER_NOTIFICATIONS_QUIET_HOURS_START": "00:00",
                "SIKADER_NOTIFICATIONS_QUIET_HOURS_END": "00:00",
                "SIKADER_NOTIFICATIONS_WORKER_POLL_S": "0.2",
                "SIKADER_NOTIFICATIONS_PUBLIC_BASE_URL": "http://sikader.test",
                "SIKADER_NOTIFICATIONS_OPD_INBOXES": json.dumps(
                    [{"id": "dinkes", "email": INBOX_EMAIL, "language": "en"}]
                ),
            }
        )
        svc = {s: await run_subprocess(s, envs[s]) for s in SERVICES}

        # Keys through the operator CLI; sikader.auth.v1 carries them to every service.
        admin = issue_key_with_cli("registry", envs["registry"], "ops", "admin")
        approver = issue_key_with_cli(
            "registry", envs["registry"], "dprd-komisi-iv", "incentives:approve,incentives:read"
        )
        subscriber = issue_key_with_cli("registry", envs["registry"], "dinkes", "notifications:subscribe")
        for s in SERVICES:
            for key in (admin, approver, subscriber):

                async def whoami(s: str = s, key: str = key) -> bool:
                    async with svc[s].client(key) as c:
                        return (await c.get("/auth/whoami")).status_code == 200

                await eventually(whoami, f"a key known to {s}")

        reg = svc["registry"].client(admin)
        cert = svc["certification"].client(admin)
        inc = svc["incentives"].client(admin)
        today = datetime.now(WITA).date()
        stamp = int(time.time()) % 10_000
        try:
            # The OPD's webhook subscription, through the notifications API.
            async with svc["notifications"].client(subscriber) as ntf:
                sub = ok(
                    await ntf.post(
                        "/subscriptions",
                        json={"url": hook.url, "secret": SECRET, "event_types": ["CadreCertified"]},
                    ),
                    201,
                )
            assert sub["event_types"] == ["sikader.certification.CadreCertified.v1"]
            assert sub["secret"] == whsec_of(SECRET)  # a client-chosen secret (deprecated): its whsec_ form

            # 1. A Posyandu that meets in a resident's house.
            p = ok(
                await reg.post(
                    "/posyandu",
                    json={
                        "name": f"Posyandu Kenanga {stamp}",
                        "kelurahan_code": KELURAHAN,
                        "posyandu_type": "balita",
                        "rt": "007",
                        "puskesmas": PUSKESMAS,
                        "institution": {"sk_number": "188.4/31/KLI/2025", "sk_date": "2025-02-03"},
                    },
                ),
                201,
            )
            pid = p["id"]
            equipment = [{"item": "dacin", "available": True, "functional": True}]
            ok(
                await reg.post(
                    f"/posyandu/{pid}/assessments",
                    json={
                        "facility_status": "resident_house",
                        "assessed_by": PUSKESMAS,
                        "assessed_on": today.isoformat(),
                        "equipment": equipment,
                    },
                ),
                201,
            )
            p = ok(await reg.get(f"/posyandu/{pid}"), 200)
            assert p["name"] == f"Posyandu Kenanga {stamp}"
            assert p["facility_status"] == "resident_house"
            assert p["verification_status"] != "VERIFIED"

            # 2. Re-assessed at the balai RT and verified.
            ok(
                await reg.post(
                    f"/posyandu/{pid}/assessments",
                    json={
                        "facility_status": "public_building",
                        "assessed_by": PUSKESMAS,
                        "assessed_on": today.isoformat(),
                        "equipment": equipment,
                    },
                ),
                201,
            )
            ok(
                await reg.post(
                    f"/posyandu/{pid}/verification", json={"decision": "VERIFIED", "note": "checked on site"}
                )
            )
            p = ok(await reg.get(f"/posyandu/{pid}"), 200)
            assert (p["facility_status"], p["verification_status"]) == ("public_building", "VERIFIED")

            # 3. A cadre registered there, with an email.
            c = ok(
                await reg.post(
                    "/cadres",
                    json={
                        "nik": nik(BIRTH, True, stamp),
                        "name": "Rahmawati Said",
                        "sex": "F",
                        "birth_date": BIRTH.isoformat(),
                        "phone": "0812-5555-0101",
                        "email": CADRE_EMAIL,
                        "roles": ["posyandu_cadre"],
                        "posyandu_id": pid,
                        "posyandu_role": "core",
                        "joined_on": "2018-06-01",
                        "payment": {"method": "bank", "bank": "BPD_KALTIMTARA", "account_number": f"00{stamp:04d}5678"},
                    },
                ),
                201,
            )
            cid = c["id"]
            assert (c["name"], c["status"], c["posyandu_id"]) == ("Rahmawati Said", "active", pid)
            assert c.get("nik") == nik(BIRTH, True, stamp)  # unmasked: the admin key has registry:pii

            # 4. Certification learns of the cadre from the registry's events; the Puskesmas assesses.
            async def cadre_known() -> bool:
                return (await cert.get(f"/cadres/{cid}")).status_code == 200

            await eventually(cadre_known, "certification knows the cadre")
            results = [{"skill_code": f"{g}.{i}", "passed": True} for g in ("1", "2", "3") for i in range(1, 6)]
            a = ok(
                await cert.post(
                    "/assessments",
                    json={
                        "cadre_id": cid,
                        "assessor": PUSKESMAS,
                        "assessed_on": today.isoformat(),
                        "results": results,
                    },
                ),
                201,
            )
            assert a["level"] == "Purwa"
            number = a["certificate"]["number"]
            assert number
            [certificate] = ok(await cert.get("/certificates", params={"cadre_id": cid}), 200)
            assert (certificate["level"], certificate["status"], certificate["number"]) == ("Purwa", "valid", number)
            async with svc["certification"].client() as public:
                verify = await public.get(f"/certificates/{number}/verify")
                assert verify.status_code == 200, verify.text
            pdf = await cert.get(f"/certificates/{number}.pdf")
            assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF"), pdf.status_code

            # 5. Incentives decides eligibility from the events alone.
            period = today.strftime("%Y-%m")

            async def eligible() -> dict[str, Any] | None:
                r = await inc.get(f"/eligibility/{cid}", params={"period": period})
                return r.json() if r.status_code == 200 and r.json().get("eligible") else None

            e = await eventually(eligible, "the cadre to become eligible")
            assert e["eligible"] is True and e["amount"] > 0
            assert e["reasons"] and all(r["passed"] for r in e["reasons"]), e["reasons"]
            assert all(r["text_id"] and r["text_en"] for r in e["reasons"])

            # 6. The month: calculate -> approve (another OPD) -> payment file -> bank results -> close.
            state = ok(await inc.get(f"/periods/{period}"), 200, 404).get("state", "open")
            assert state not in ("approved", "paid", "closed"), state
            calc = ok(await inc.post(f"/periods/{period}/calculate"), 200, 201)
            assert calc["eligible_cadres"] == 1 and calc["total_amount"] == e["amount"], calc
            assert calc["decision_hash"]
            same = await inc.post(f"/periods/{period}/approve", json={"decision_hash": calc["decision_hash"]})
            assert same.status_code in (403, 409, 422), same.text  # the calculating client may not approve
            assert same.json().get("detail")
            approved = ok(
                await inc.post(
                    f"/periods/{period}/approve",
                    headers={"Authorization": f"Bearer {approver}"},
                    json={"decision_hash": calc["decision_hash"]},
                ),
                200,
                201,
            )
            assert approved["approved_by"] == "dprd-komisi-iv" and approved["state"] == "approved", approved
            batch = ok(await inc.post(f"/periods/{period}/payment-batches"), 200, 201)
            assert (batch["lines"], batch["total_amount"]) == (1, e["amount"]), batch
            file = await inc.get(batch["file"])
            assert file.status_code == 200, file.text
            lines = file.text.splitlines()
            assert len(lines) == 2, lines  # a header and the cadre's line
            bank = "reference,result,failure_reason,paid_on\n" + "".join(
                f"{line.split(',')[0]},paid,,{today.isoformat()}\n" for line in lines[1:]
            )
            paid = ok(
                await inc.post(
                    f"/periods/{period}/payment-batches/{batch['batch_id']}/results",
                    content=bank,
                    headers={"content-type": "text/csv"},
                ),
                200,
                201,
            )
            assert (paid["paid"], paid["failed"], paid["state"]) == (1, 0, "paid"), paid
            closed = ok(await inc.post(f"/periods/{period}/close"), 200, 201)
            assert closed["state"] == "closed"
            assert ok(await inc.get(f"/periods/{period}"), 200)["state"] == "closed"
        finally:
            for client in (reg, cert, inc):
                await client.aclose()

        # ---------------------------------------------------------------- events on the broker
        reg_t, cert_t, inc_t = "sikader.registry.", "sikader.certification.", "sikader.incentives."
        posyandu_registered = await events(bootstrap, topics.POSYANDU, f"{reg_t}PosyanduRegistered.v1", pid, "registry")
        assessed = await events(
            bootstrap, topics.POSYANDU, f"{reg_t}PosyanduFacilityAssessed.v1", pid, "registry", count=2
        )
        assert [b["facility_status"] for _, b in assessed] == ["resident_house", "public_building"]
        [(verified_h, verified)] = await events(
            bootstrap, topics.POSYANDU, f"{reg_t}PosyanduFacilityVerified.v1", pid, "registry"
        )
        assert verified["verified_by"] == "ops"
        [(cadre_h, registered)] = await events(bootstrap, topics.CADRE, f"{reg_t}CadreRegistered.v1", cid, "registry")
        assert registered["posyandu_id"] == pid and "nik" not in registered
        [(_, contact)] = await events(
            bootstrap, topics.CADRE_PRIVATE, f"{reg_t}CadreContactChanged.v1", cid, "registry"
        )
        assert CADRE_EMAIL not in json.dumps(contact)  # encrypted
        await events(bootstrap, topics.CADRE_PRIVATE, f"{reg_t}CadrePaymentDetailsChanged.v1", cid, "registry")
        [(certified_h, certified)] = await events(
            bootstrap, topics.CERTIFICATION, f"{cert_t}CadreCertified.v1", cid, "certification"
        )
        assert (certified["level"], certified["certificate_number"]) == ("Purwa", number)
        [(_, changed)] = (
            await events(bootstrap, topics.INCENTIVES, f"{inc_t}IncentiveEligibilityChanged.v1", cid, "incentives")
        )[:1]
        assert (changed["eligible"], changed["amount"], changed["period"]) == (True, e["amount"], period)
        sources = {i for r in changed["reasons"] for i in r["source_event_ids"]}
        assert {
            certified_h["ce_id"],
            verified_h["ce_id"],
            cadre_h["ce_id"],
            posyandu_registered[0][0]["ce_id"],
        } <= sources
        [(calc_h, calculated)] = await events(
            bootstrap, topics.INCENTIVES, f"{inc_t}IncentivePeriodCalculated.v1", period, "incentives"
        )
        assert calculated["decision_hash"] == calc["decision_hash"]
        [(approved_h, _)] = await events(
            bootstrap, topics.INCENTIVES, f"{inc_t}IncentivePeriodApproved.v1", period, "incentives"
        )
        assert approved_h["ce_actor"] == "dprd-komisi-iv" and calc_h["ce_actor"] == "ops"
        [(_, payment)] = await events(
            bootstrap, topics.INCENTIVES, f"{inc_t}IncentivePaymentRecorded.v1", cid, "incentives"
        )
        assert payment["period"] == period and payment["amount"] == e["amount"], payment
        assert f"00{stamp:04d}5678" not in json.dumps(payment)
        await events(bootstrap, topics.INCENTIVES, f"{inc_t}IncentivePeriodClosed.v1", period, "incentives")

        # ---------------------------------------------------------------- the email and the webhook
        subject = "Selamat! Anda tersertifikasi sebagai Kader Purwa"

        async def cadre_mail() -> Any:
            return [m for m in mail.store.messages() if m["To"] == CADRE_EMAIL and m["Subject"] == subject]

        [to_cadre] = await eventually(cadre_mail, "the CadreCertified email to the cadre")
        text = to_cadre.get_content()
        assert "Rahmawati Said" in text and number in text
        assert "http://sikader.test/unsubscribe/" in text

        async def inbox_mail() -> Any:
            return [m for m in mail.store.messages() if m["To"] == INBOX_EMAIL and "Cadre certified" in m["Subject"]]

        [to_inbox] = await eventually(inbox_mail, "the CadreCertified email to the OPD inbox")
        assert to_inbox["Subject"] == "Cadre certified: Rahmawati Said (Purwa)"

        async def webhook() -> Any:
            return [r for r in hook.accepted() if r.headers.get("ce-subject") == cid]

        [delivered] = await eventually(webhook, "the signed webhook")
        assert delivered.verified is True  # HMAC-SHA256 over timestamp + "." + raw body, checked by the receiver
        assert delivered.headers["ce-id"] == certified_h["ce_id"]
        assert delivered.headers["ce-type"] == "sikader.certification.CadreCertified.v1"
        assert delivered.headers["ce-source"] == "sikader/certification"
        assert delivered.headers["x-sikader-signature"].startswith("sha256=")
        assert delivered.json()["certificate_number"] == number
        assert not [r for r in hook.requests if r.verified is False]

        # NotificationDelivered for both, caused by CadreCertified.
        def delivered_for(record: ConsumerRecord[bytes, bytes]) -> bool:
            h = headers_of(record)
            return (
                h.get("ce_type") == "sikader.notifications.NotificationDelivered.v1"
                and h.get("ce_causationid") == certified_h["ce_id"]
            )

        records = await wait_for(bootstrap, topics.NOTIFICATIONS, delivered_for, timeout=WAIT, count=3)
        outcomes = set()
        for record in records:
            h, body = headers_of(record), json.loads(record.value)
            assert set(REQUIRED_HEADERS) <= set(h) and h["ce_source"] == "sikader/notifications"
            assert h["ce_subject"] == record.key.decode() == body["notification_id"]
            assert CADRE_EMAIL not in record.value.decode()
            outcomes.add((body["recipient_type"], body["channel"]))
        assert {("cadre", "email"), ("opd_inbox", "email"), ("subscription", "webhook")} <= outcomes
    finally:
        hook.stop()
        mail.stop()
