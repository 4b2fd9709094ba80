"""Delivery guarantees over real HTTP receivers: a receiver that is down for a while gets
every event afterwards, in order, once; a slow subscriber delays nobody; a dead one is given
up after the retry schedule with NotificationFailed."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from notifications.app import definition
from notifications.entrypoints.jobs import DeliveryWorker
from notifications.settings import NotificationsSettings
from sikader_shared import topics
from sikader_shared.clock import FixedClock
from sikader_shared.testing.broker import free_port
from sikader_shared.testing.kafka import headers_of, of_type, wait_for
from tests.conftest import settings_for
from tests.notifications.support import (
    HttpReceiver,
    deliveries,
    eventually,
    expired,
    expiring,
    issue,
    publish,
    revoked,
    wait_until,
)

pytestmark = pytest.mark.integration
NOON_WITA = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
TYPES = ["CertificateExpiring", "CertificateExpired", "CertificateRevoked"]


async def test_down_receiver_gets_everything_in_order_once_and_slow_or_dead_ones_delay_nobody(
    broker, databases, run_service, tmp_path: Path
) -> None:
    no_rules = tmp_path / "rules.json"
    no_rules.write_text("[]")  # webhooks only in this test
    clock = FixedClock(NOON_WITA)
    settings = settings_for(
        NotificationsSettings,
        broker,
        databases("notifications"),
        worker_enabled=False,
        retry_schedule_s=[60.0],
        retry_jitter=0.0,
        rules_file=str(no_rules),
    )
    svc = await run_service(definition(settings, clock))
    key = await issue(svc.runtime, "dinkes", ["notifications:subscribe"])
    down, slow, healthy = (HttpReceiver().start() for _ in range(3))
    down.status = 503
    slow.hold = threading.Event()
    dead_url = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    try:
        subs = {}
        async with svc.client(key) as client:
            for name, url, receiver in (
                ("down", down.url, down),
                ("slow", slow.url, slow),
                ("ok", healthy.url, healthy),
                ("dead", dead_url, None),
            ):
                r = await client.post("/subscriptions", json={"url": url, "event_types": TYPES})
                assert r.status_code == 201
                subs[name] = r.json()["id"]
                if receiver is not None:
                    receiver.secret = r.json()["secret"]  # generated, shown once

        cadre_id = "7d1c0a9e-0000-4000-8000-000000000001"
        ids = await publish(
            broker.bootstrap,
            (expiring(cadre_id), "certification"),
            (expired(cadre_id), "certification"),
            (revoked(cadre_id), "certification"),
        )

        async def queued() -> bool:
            return len(await deliveries(svc.runtime)) == 12

        await eventually(queued)
        worker = DeliveryWorker(svc.runtime)

        # One tick, not awaited: the healthy subscriber gets all three while the slow one
        # still hangs on its first.
        await worker.tick(wait=False)
        await wait_until(lambda: len(healthy.accepted()) == 3)
        assert [r.headers["ce-id"] for r in healthy.accepted()] == ids
        await wait_until(lambda: slow.arrived == 1)
        assert slow.requests == []  # the slow one still hangs on its first event
        slow.hold.set()
        await worker.drain()

        # The down subscriber was tried once, for the first event only: order is kept.
        assert [(r.headers["ce-id"], r.status) for r in down.requests] == [(ids[0], 503)]
        async with svc.client(key) as client:
            log = (await client.get(f"/subscriptions/{subs['down']}/deliveries")).json()
        assert [(d["source_event_id"], d["status"], d["attempts"]) for d in log] == [
            (ids[0], "pending", 1),
            (ids[1], "pending", 0),
            (ids[2], "pending", 0),
        ]
        assert log[0]["last_error"] == "webhook answered HTTP 503"
        assert log[0]["next_attempt_at"].startswith("2026-12-01T04:01:00")

        # Nothing is due before the backoff: a tick now sends nothing more.
        assert await worker.tick() == 0

        # The receiver comes back; after the backoff it gets every event, in order.
        down.status = 200
        for _ in range(3):
            clock.advance(timedelta(seconds=61))
            await worker.tick()
        assert [r.headers["ce-id"] for r in down.accepted()] == ids  # each once
        assert all(r.verified for r in down.requests)
        assert [r.headers["ce-id"] for r in slow.accepted()] == ids
        assert len(healthy.requests) == 3  # nothing delivered twice

        # The dead subscriber: two attempts per event (schedule [60]), then NotificationFailed.
        dead_rows = await deliveries(svc.runtime, subscription_id=subs["dead"])
        assert [(d.status, d.attempts) for d in dead_rows] == [("failed", 2)] * 3
        failed = await wait_for(
            broker.bootstrap, topics.NOTIFICATIONS, of_type("sikader.notifications.NotificationFailed.v1"), count=3
        )
        bodies = [json.loads(r.value) for r in failed]
        assert sorted(b["source_event_id"] for b in bodies) == sorted(ids)
        assert {(b["subscription_id"], b["attempts"], b["reason"]) for b in bodies} == {
            (subs["dead"], 2, "webhook: ConnectError")
        }
        assert all(headers_of(r)["ce_type"] == "sikader.notifications.NotificationFailed.v1" for r in failed)
        delivered = await wait_for(
            broker.bootstrap, topics.NOTIFICATIONS, of_type("sikader.notifications.NotificationDelivered.v1"), count=9
        )
        assert len(delivered) == 9  # 3 subscribers x 3 events, once each

        clock.advance(timedelta(hours=12))
        assert await worker.tick() == 0  # all settled
    finally:
        for receiver in (down, slow, healthy):
            receiver.stop()
