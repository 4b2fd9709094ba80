"""The paged list routes of notifications: every item exactly once when a client follows the
`Link: rel="next"` header, the body stays a JSON array, and `offset` keeps working."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from notifications.adapters.tables import CadreRow, ReceivedEventRow
from notifications.app import definition
from notifications.settings import NotificationsSettings
from sikader_shared.clock import FixedClock
from sikader_shared.testing.paging import walk_pages as walk
from tests.conftest import settings_for
from tests.notifications.support import KEC, KEL, issue

pytestmark = pytest.mark.integration
START = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
CERTIFIED = "sikader.certification.CadreCertified.v1"


async def _seed(svc: Any, cadres: int, events: int) -> None:
    """Projected cadres (for a broadcast) and kept events (for a re-delivery), as the
    consumer would have stored them."""
    async with svc.runtime.uow() as uow:
        for n in range(cadres):
            uow.session.add(
                CadreRow(
                    cadre_id=str(uuid.uuid4()),
                    name=f"Kader {n}",
                    roles=["posyandu_cadre"],
                    kecamatan_code=KEC,
                    kelurahan_code=KEL,
                    version_at=START,
                )
            )
        for n in range(events):
            uow.session.add(
                ReceivedEventRow(
                    event_id=str(uuid.uuid4()),
                    ce_type=CERTIFIED,
                    subject=str(uuid.uuid4()),
                    time=START + timedelta(minutes=n),
                    headers={"ce_type": CERTIFIED},
                    payload=json.dumps({"kecamatan_code": KEC}),
                    kecamatan_code=KEC,
                    kelurahan_code=KEL,
                    received_at=START,
                )
            )
        await uow.commit()


async def test_every_list_walks_through_the_link_header(broker: Any, databases: Any, run_service: Any) -> None:
    clock = FixedClock(START)  # every row created at the same instant: the id breaks the tie
    settings = settings_for(NotificationsSettings, broker, databases("notifications"), worker_enabled=False)
    svc = await run_service(definition(settings, clock))
    subscriber = await issue(svc.runtime, "dinkes", ["notifications:subscribe"])
    broadcaster = await issue(svc.runtime, "dinsos", ["notifications:broadcast"])
    admin = await issue(svc.runtime, "ops", ["admin"])
    await _seed(svc, cadres=3, events=5)
    body = {"url": "https://sim.dinkes.example/hook", "secret": "a-long-shared-secret-0123", "event_types": [CERTIFIED]}

    async with svc.client(subscriber) as client:
        for _ in range(5):
            assert (await client.post("/subscriptions", json=body)).status_code == 201
        whole = (await client.get("/subscriptions")).json()
        items, pages = await walk(client, "/subscriptions", {"limit": 2})
        assert (pages, items) == (3, whole) and len({s["id"] for s in items}) == 5
        assert (await client.get("/subscriptions", params={"cursor": "bm90LWEtY3Vyc29y"})).status_code == 422

        sub = whole[0]["id"]
        redelivered = await client.post(f"/subscriptions/{sub}/redeliver", json={"since": "2026-01-01T00:00:00Z"})
        assert redelivered.json()["queued"] == 5
        log = f"/subscriptions/{sub}/deliveries"
        whole = (await client.get(log)).json()
        items, pages = await walk(client, log, {"limit": 2})
        assert (pages, items) == (3, whole) and len({d["notification_id"] for d in items}) == 5
        older = (await client.get(log, params={"limit": 2, "offset": 3})).json()
        assert older == whole[3:5]  # offset as before
        items, pages = await walk(client, log, {"limit": 2, "offset": 1})  # a cursor supersedes the offset
        assert (pages, items) == (2, whole[1:])

    async with svc.client(broadcaster) as client:
        announcement = {"title": "Rapat kader", "message": "Rapat hari Sabtu.", "channels": ["email"]}
        for _ in range(3):
            assert (await client.post("/broadcasts", json=announcement)).status_code == 201
        whole = (await client.get("/broadcasts")).json()
        items, pages = await walk(client, "/broadcasts", {"limit": 2})
        assert (pages, items) == (2, whole) and len({b["id"] for b in items}) == 3

    async with svc.client(admin) as client:
        whole = (await client.get("/deliveries")).json()
        assert len(whole) == 5 + 3 * 3  # the re-delivery and three broadcasts to three cadres
        items, pages = await walk(client, "/deliveries", {"limit": 4})
        assert (pages, items) == (4, whole) and len({d["notification_id"] for d in items}) == 14
        items, _ = await walk(client, "/deliveries", {"limit": 4, "recipient_type": "cadre"})
        assert items == [d for d in whole if d["recipient_type"] == "cadre"]
