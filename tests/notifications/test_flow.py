"""CadreCertified on the broker -> an email to the cadre over real SMTP, a WhatsApp message
through a real HTTP gateway, an English email to an OPD inbox and a signed webhook to a
subscribed OPD system; NotificationDelivered on the broker with the contract headers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from notifications.app import definition
from notifications.settings import NotificationsSettings
from sikader_shared import topics
from sikader_shared.testing.broker import free_port
from sikader_shared.testing.devsmtp import DevMailServer
from sikader_shared.testing.kafka import headers_of, of_type, wait_for
from tests.conftest import settings_for
from tests.notifications.support import (
    HttpReceiver,
    cadre,
    certified,
    contact,
    deliveries,
    issue,
    projected,
    publish,
    wait_until,
    whsec_of,
)

pytestmark = pytest.mark.integration
SECRET = "dinkes-webhook-secret-0123456789"


async def test_cadre_certified_emails_the_cadre_and_signs_a_webhook(broker, databases, run_service, tmp_path: Path):
    mail = DevMailServer(tmp_path / "mail", smtp_port=free_port(), http_port=free_port()).start()
    # dinkes registered before Standard Webhooks, with a secret of its own (deprecated): it gets
    # both header sets; dp3akb lets the service generate its whsec_ secret.
    hook = HttpReceiver(whsec_of(SECRET), legacy_secret=SECRET).start()
    other_hook = HttpReceiver().start()
    gateway = HttpReceiver().start()
    try:
        settings = settings_for(
            NotificationsSettings,
            broker,
            databases("notifications"),
            smtp_port=mail.smtp_port,
            whatsapp_gateway_url=gateway.url,
            quiet_hours_start="00:00",
            quiet_hours_end="00:00",
            worker_poll_s=0.2,
            public_base_url="http://sikader.test",
            opd_inboxes=[{"id": "dinkes", "email": "kader@dinkes.example", "language": "en"}],
        )
        svc = await run_service(definition(settings))
        dinkes = await issue(svc.runtime, "dinkes", ["notifications:subscribe"])
        dp3akb = await issue(svc.runtime, "dp3akb", ["notifications:subscribe"])
        admin = await issue(svc.runtime, "ops", ["admin"])
        async with svc.client(dinkes) as client:
            r = await client.post(
                "/subscriptions",
                json={
                    "url": hook.url,
                    "secret": SECRET,
                    "event_types": ["CadreCertified"],
                    "kecamatan_codes": ["64.71.01"],
                },
            )
            assert r.status_code == 201, r.text
            sub = r.json()
            assert sub["event_types"] == ["sikader.certification.CadreCertified.v1"]
            assert sub["secret"] == whsec_of(SECRET)  # the same key, for a Standard Webhooks library
        async with svc.client(dp3akb) as client:
            r = await client.post(
                "/subscriptions",
                json={
                    "url": other_hook.url,
                    "event_types": ["CadreCertified"],
                    "kecamatan_codes": ["64.71.02"],
                },
            )
            assert r.status_code == 201
            other = r.json()
            other_hook.secret = other["secret"]
            assert other["secret"].startswith("whsec_")
            # Each key sees only its own OPD client's subscriptions.
            assert [s["id"] for s in (await client.get("/subscriptions")).json()] == [other["id"]]
            assert (await client.get(f"/subscriptions/{sub['id']}")).status_code == 404

        siti = cadre(name="Siti Aminah")
        event = certified(siti.cadre_id)
        await publish(
            broker.bootstrap,
            (siti, "registry"),
            (contact(siti.cadre_id, email="siti.aminah@example.org", phone="+6281234567890"), "registry"),
        )
        await projected(svc.runtime, [siti.cadre_id], contacts=1)
        [event_id] = await publish(broker.bootstrap, (event, "certification"))

        await wait_until(lambda: len(mail.store.names()) >= 2 and hook.accepted() and gateway.accepted())

        by_to = {m["To"]: m for m in mail.store.messages()}
        to_cadre = by_to["siti.aminah@example.org"]
        assert to_cadre["Subject"] == "Selamat! Anda tersertifikasi sebagai Kader Madya"
        text = to_cadre.get_content()
        assert "Yth. Siti Aminah" in text and "KDR-2026-000123" in text and "5 Desember 2029" in text
        assert "http://sikader.test/unsubscribe/" in text
        assert to_cadre["List-Unsubscribe"].startswith("<http://sikader.test/unsubscribe/")
        to_dinkes = by_to["kader@dinkes.example"]
        assert to_dinkes["Subject"] == "Cadre certified: Siti Aminah (Madya)"
        assert "unsubscribe" not in to_dinkes.get_content()  # agency mailboxes are not cadres

        [webhook] = hook.accepted()
        assert webhook.verified is True  # the Standard Webhooks signature and the deprecated one
        assert webhook.headers["webhook-id"] == event_id
        assert webhook.headers["ce-id"] == event_id
        assert webhook.headers["ce-type"] == "sikader.certification.CadreCertified.v1"
        assert webhook.headers["ce-source"] == "sikader/certification"
        assert webhook.headers["ce-subject"] == siti.cadre_id
        assert webhook.headers["content-type"] == "application/json"
        assert webhook.json() == json.loads(json.dumps(event.to_json_dict()))

        [sms] = gateway.accepted()
        body = sms.json()
        assert body["to"] == "+6281234567890" and body["channel"] == "whatsapp"
        assert body["text"].startswith("Selamat Siti Aminah")
        assert "Berhenti: http://sikader.test/unsubscribe/" in body["text"]

        delivered = await wait_for(
            broker.bootstrap, topics.NOTIFICATIONS, of_type("sikader.notifications.NotificationDelivered.v1"), count=4
        )
        outcomes = {(json.loads(r.value)["recipient_type"], json.loads(r.value)["channel"]) for r in delivered}
        assert outcomes == {
            ("cadre", "email"),
            ("cadre", "whatsapp"),
            ("opd_inbox", "email"),
            ("subscription", "webhook"),
        }
        for record in delivered:
            headers = headers_of(record)
            assert headers["ce_source"] == "sikader/notifications" and headers["ce_causationid"] == event_id
            assert record.key == json.loads(record.value)["notification_id"].encode()
            raw = record.value.decode()
            assert "siti.aminah@" not in raw and "81234567890" not in raw and "dinkes.example" not in raw
        webhook_outcome = next(json.loads(r.value) for r in delivered if json.loads(r.value)["channel"] == "webhook")
        assert webhook_outcome["subscription_id"] == sub["id"] and webhook_outcome["source_event_id"] == event_id

        # The other OPD's subscription filters on another kecamatan: nothing was queued for it.
        assert await deliveries(svc.runtime, subscription_id=other["id"]) == []
        assert other_hook.requests == []
        async with svc.client(admin) as client:
            log = (await client.get("/deliveries", params={"source_event_id": event_id})).json()
        assert {d["status"] for d in log} == {"delivered"} and len(log) == 4
        async with svc.client(dinkes) as client:
            own_log = (await client.get(f"/subscriptions/{sub['id']}/deliveries")).json()
        assert [(d["source_event_id"], d["status"], d["attempts"]) for d in own_log] == [(event_id, "delivered", 1)]
    finally:
        for receiver in (hook, other_hook, gateway):
            receiver.stop()
        mail.stop()
