"""Routing to the head cadre, the Puskesmas and OPD inboxes; quiet hours for SMS; the
unsubscribe link (no key) in every cadre message and its effect."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import select

from notifications.adapters.tables import OptOutRow
from notifications.app import definition
from notifications.entrypoints.jobs import DeliveryWorker
from notifications.settings import NotificationsSettings
from sikader_shared.clock import FixedClock
from sikader_shared.events import ManagementRole, PosyanduFacilityVerified, PosyanduRegistered
from sikader_shared.testing.broker import free_port
from sikader_shared.testing.devsmtp import DevMailServer
from tests.conftest import settings_for
from tests.notifications.support import (
    KEC,
    KEL,
    HttpReceiver,
    cadre,
    contact,
    deliveries,
    eventually,
    expired,
    expiring,
    projected,
    publish,
)

pytestmark = pytest.mark.integration
LATE_EVENING = datetime(2026, 12, 1, 14, 30, tzinfo=UTC)  # 22:30 WITA
NEXT_MORNING = datetime(2026, 12, 1, 23, 1, tzinfo=UTC)  # 07:01 WITA
PUSKESMAS = "Puskesmas Damai"


async def test_head_cadre_puskesmas_opd_quiet_hours_and_unsubscribe(
    broker, databases, run_service, tmp_path: Path
) -> None:
    mail = DevMailServer(tmp_path / "mail", smtp_port=free_port(), http_port=0).start()
    gateway = HttpReceiver().start()
    clock = FixedClock(LATE_EVENING)
    settings = settings_for(
        NotificationsSettings,
        broker,
        databases("notifications"),
        worker_enabled=False,
        smtp_port=mail.smtp_port,
        sms_gateway_url=gateway.url,
        whatsapp_gateway_url=gateway.url,
        public_base_url="http://sikader.test",
        puskesmas_inboxes={PUSKESMAS: "pkm.damai@example.go.id"},
        opd_inboxes=[{"id": "dinkes", "email": "kader@dinkes.example", "language": "en"}],
    )
    svc = await run_service(definition(settings, clock))
    worker = DeliveryWorker(svc.runtime)
    posyandu_id = "9a8b7c6d-0000-4000-8000-000000000003"
    head = cadre(name="Ratna Sari", posyandu_id=posyandu_id, posyandu_role="ketua")
    siti = cadre(name="Siti Aminah", posyandu_id=posyandu_id, posyandu_role="core")
    posyandu = PosyanduRegistered(
        posyandu_id=posyandu_id,
        kelurahan_code=KEL,
        kecamatan_code=KEC,
        name="Posyandu Melati",
        posyandu_type="balita",
        status="active",
        verification_status="PENDING",
        puskesmas=PUSKESMAS,
        management=[ManagementRole(role="ketua", cadre_id=head.cadre_id)],
        registered_at=datetime.now(UTC),
    )
    try:
        await publish(
            broker.bootstrap,
            (posyandu, "registry"),
            (head, "registry"),
            (siti, "registry"),
            (contact(head.cadre_id, email="ratna@example.org", phone="+6281111111111"), "registry"),
            (contact(siti.cadre_id, email="siti@example.org", phone="+6282222222222"), "registry"),
        )
        await projected(svc.runtime, [head.cadre_id, siti.cadre_id], contacts=2, posyandu_id=posyandu_id)
        [expiring_id] = await publish(broker.bootstrap, (expiring(siti.cadre_id), "certification"))

        async def planned() -> bool:
            return len(await deliveries(svc.runtime, source_event_id=expiring_id)) == 3

        await eventually(planned)
        await worker.tick()
        # 22:30 WITA: the emails go (cadre and head cadre), the SMS waits for 07:00 WITA.
        assert sorted(m["To"] for m in mail.store.messages()) == ["ratna@example.org", "siti@example.org"]
        to_head = next(m for m in mail.store.messages() if m["To"] == "ratna@example.org")
        assert "Siti Aminah" in to_head["Subject"] and "Posyandu Melati" in to_head.get_content()
        [sms] = await deliveries(svc.runtime, source_event_id=expiring_id, channel="sms")
        assert sms.status == "pending" and sms.attempts == 0
        assert sms.next_attempt_at.replace(tzinfo=UTC) == datetime(2026, 12, 1, 23, 0, tzinfo=UTC)
        assert gateway.requests == []
        clock.set(NEXT_MORNING)
        await worker.tick()
        [text] = gateway.accepted()
        assert text.json()["to"] == "+6282222222222" and text.json()["channel"] == "sms"
        assert "Berhenti: http://sikader.test/unsubscribe/" in text.json()["text"]

        # The cadre unsubscribes from email through the link in her message (no key).
        to_siti = next(m for m in mail.store.messages() if m["To"] == "siti@example.org")
        link = re.search(r"http://sikader\.test(/unsubscribe/\S+)", to_siti.get_content())
        assert link is not None
        assert to_siti["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"  # RFC 8058
        async with svc.client() as anonymous:
            # GET (a mail scanner, a link preview) only shows the page with its button
            page = await anonymous.get(link.group(1))
            assert page.status_code == 200 and "Berhenti berlangganan?" in page.text
            assert f"<form method='post' action='{link.group(1)}'>" in page.text and "<script" not in page.text
            async with svc.runtime.sessions() as session:
                assert (await session.exec(select(OptOutRow))).all() == []
            done = await anonymous.post(link.group(1))  # the button, or a mail client's one-click POST
            assert done.status_code == 200 and "Berhasil berhenti berlangganan" in done.text and "email" in done.text
            assert (await anonymous.post(link.group(1))).status_code == 200  # idempotent
            again = await anonymous.get(link.group(1))
            assert "sudah berhenti" in again.text and f"{link.group(1)}/resubscribe" in again.text
            assert (await anonymous.get(link.group(1)[:-3] + "AAA")).status_code == 404
            assert (await anonymous.post(link.group(1)[:-3] + "AAA")).status_code == 404
            assert (await anonymous.get("/unsubscribe/not-a-token")).status_code == 404

        # Later messages skip email for her, still reach her by SMS and reach the Puskesmas.
        [expired_id] = await publish(broker.bootstrap, (expired(siti.cadre_id), "certification"))

        async def planned_expired() -> bool:
            return len(await deliveries(svc.runtime, source_event_id=expired_id)) == 3

        await eventually(planned_expired)
        await worker.tick()
        rows = {(d.recipient_type, d.channel): d for d in await deliveries(svc.runtime, source_event_id=expired_id)}
        assert (rows["cadre", "email"].status, rows["cadre", "email"].last_error) == ("skipped", "unsubscribed")
        assert rows["cadre", "sms"].status == "delivered"
        assert rows["puskesmas", "email"].status == "delivered"
        to_pkm = next(m for m in mail.store.messages() if m["To"] == "pkm.damai@example.go.id")
        assert "Sertifikat kader berakhir" in to_pkm["Subject"] and "unsubscribe" not in to_pkm.get_content()

        # Posyandu verified: head cadre (email + WhatsApp), Puskesmas, and Dinkes in English.
        verified = PosyanduFacilityVerified(
            posyandu_id=posyandu_id,
            kelurahan_code=KEL,
            kecamatan_code=KEC,
            name="Posyandu Melati",
            verified_by="dinkes",
            verified_at=datetime(2026, 12, 1, 23, 0, tzinfo=UTC),
        )
        [verified_id] = await publish(broker.bootstrap, (verified, "registry"))

        async def planned_verified() -> bool:
            return len(await deliveries(svc.runtime, source_event_id=verified_id)) == 4

        await eventually(planned_verified)
        await worker.tick()
        got = {
            (d.recipient_type, d.recipient_id, d.channel, d.status)
            for d in await deliveries(svc.runtime, source_event_id=verified_id)
        }
        assert got == {
            ("head_cadre", head.cadre_id, "email", "delivered"),
            ("head_cadre", head.cadre_id, "whatsapp", "delivered"),
            ("puskesmas", PUSKESMAS, "email", "delivered"),
            ("opd_inbox", "dinkes", "email", "delivered"),
        }
        to_dinkes = next(m for m in mail.store.messages() if m["To"] == "kader@dinkes.example")
        assert to_dinkes["Subject"] == "Posyandu Melati verified"
        assert "2 December 2026" in to_dinkes.get_content()  # 07:00 WITA on 2 December
        to_head_verified = [m for m in mail.store.messages() if m["To"] == "ratna@example.org"][-1]
        assert to_head_verified["Subject"] == "Posyandu Melati telah terverifikasi"
        assert "http://sikader.test/unsubscribe/" in to_head_verified.get_content()
    finally:
        gateway.stop()
        mail.stop()
