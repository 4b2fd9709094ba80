"""Broadcasts: a programme announcement to cadres by kecamatan and role, paced, with
progress through the API and a final tally."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from notifications.adapters.tables import CadreRow, ContactRow
from notifications.app import definition
from notifications.entrypoints.jobs import DeliveryWorker
from notifications.settings import NotificationsSettings
from sikader_shared.clock import FixedClock
from sikader_shared.events import CadreDeactivated
from sikader_shared.testing.broker import free_port
from sikader_shared.testing.devsmtp import DevMailServer
from tests.conftest import settings_for
from tests.notifications.support import KEC, KEL, cadre, contact, eventually, issue, publish

pytestmark = pytest.mark.integration
ANNOUNCEMENT = {
    "title": "Sekolah Rakyat: beasiswa penuh",
    "message": "Sekolah Rakyat adalah beasiswa penuh, bukan sekolah dasar model lama.",
    "channels": ["email"],
    "kecamatan_codes": [KEC],
    "roles": ["posyandu_cadre"],
    "rate_per_minute": 1,
}


async def test_broadcast_by_area_and_role_is_paced_with_progress_and_tally(
    broker, databases, run_service, tmp_path: Path
) -> None:
    mail = DevMailServer(tmp_path / "mail", smtp_port=free_port(), http_port=0).start()
    clock = FixedClock(datetime(2026, 12, 1, 2, 0, tzinfo=UTC))
    settings = settings_for(
        NotificationsSettings,
        broker,
        databases("notifications"),
        worker_enabled=False,
        smtp_port=mail.smtp_port,
        public_base_url="http://sikader.test",
    )
    svc = await run_service(definition(settings, clock))
    dinsos = await issue(svc.runtime, "dinsos", ["notifications:broadcast"])
    other = await issue(svc.runtime, "dp3akb", ["notifications:broadcast"])
    subscriber = await issue(svc.runtime, "dinkes", ["notifications:subscribe"])
    ani, budi, citra = cadre(name="Ani"), cadre(name="Budi"), cadre(name="Citra")
    pkk_only = cadre(name="Dewi", roles=("pkk",))
    elsewhere = cadre(name="Eka", kec="64.71.02", kel="64.71.02.1001")
    gone = cadre(name="Fitri")
    try:
        await publish(
            broker.bootstrap,
            *[(c, "registry") for c in (ani, budi, citra, pkk_only, elsewhere, gone)],
            *[
                (contact(c.cadre_id, email=f"{c.name.lower()}@example.org"), "registry")
                for c in (ani, budi, pkk_only, elsewhere, gone)
            ],
            (contact(citra.cadre_id, phone="+6283333333333"), "registry"),  # no email on record
            (
                CadreDeactivated(
                    cadre_id=gone.cadre_id,
                    kelurahan_code=KEL,
                    kecamatan_code=KEC,
                    reason="pindah",
                    effective_on=date(2026, 11, 30),
                ),
                "registry",
            ),
        )

        async with svc.client(subscriber) as client:
            assert (await client.post("/broadcasts", json=ANNOUNCEMENT)).status_code == 403
        async with svc.client(dinsos) as client:
            empty = await client.post("/broadcasts", json={**ANNOUNCEMENT, "channels": [], "message": ""})
            assert empty.status_code == 422
            assert {tuple(e["loc"]) for e in empty.json()["errors"]} == {("body", "channels"), ("body", "message")}
            fast = await client.post("/broadcasts", json={**ANNOUNCEMENT, "rate_per_minute": 100000})
            assert fast.status_code == 422 and fast.json()["field"] == "rate_per_minute"

        async def cadres_known() -> bool:
            async with svc.runtime.sessions() as session:
                n = (await session.execute(select(func.count()).select_from(CadreRow))).scalar_one()
                c = (await session.execute(select(func.count()).select_from(ContactRow))).scalar_one()
                inactive = await session.get(CadreRow, gone.cadre_id)
                return n == 6 and c == 6 and inactive is not None and inactive.status == "inactive"

        await eventually(cadres_known)
        async with svc.client(dinsos) as client:
            started = await client.post("/broadcasts", json=ANNOUNCEMENT)
            assert started.status_code == 201, started.text
            assert started.json() | {"id": None} == {"id": None, "recipients": 3, "messages": 2, "status": "sending"}
            broadcast_id = started.json()["id"]

        worker = DeliveryWorker(svc.runtime)
        await worker.tick()  # one message a minute: only the first goes now
        assert len(mail.store.names()) == 1
        async with svc.client(dinsos) as client:
            progress = (await client.get(f"/broadcasts/{broadcast_id}")).json()
        assert progress["status"] == "sending" and progress["tally"] is None
        assert progress["progress"] == {"pending": 1, "delivered": 1, "failed": 0, "skipped": 1}

        clock.advance(timedelta(seconds=60))
        await worker.tick()
        await worker.tick()  # the tick after the last message closes the broadcast
        async with svc.client(dinsos) as client:
            final = (await client.get(f"/broadcasts/{broadcast_id}")).json()
            assert [b["id"] for b in (await client.get("/broadcasts")).json()] == [broadcast_id]
        assert final["status"] == "completed" and final["completed_at"] is not None
        assert final["tally"] == {"pending": 0, "delivered": 2, "failed": 0, "skipped": 1}
        async with svc.client(other) as client:
            assert (await client.get(f"/broadcasts/{broadcast_id}")).status_code == 404
            assert (await client.get("/broadcasts")).json() == []

        received = mail.store.messages()
        assert sorted(m["To"] for m in received) == ["ani@example.org", "budi@example.org"]
        for message in received:
            assert message["Subject"] == ANNOUNCEMENT["title"]
            text = message.get_content()
            assert ANNOUNCEMENT["message"] in text and "http://sikader.test/unsubscribe/" in text
    finally:
        mail.stop()
