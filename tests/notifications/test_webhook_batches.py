"""Fast webhook delivery with its guarantees: a subscription's webhooks for different
aggregate keys go out concurrently (up to `webhook_concurrency`), each key's in order; a
batch claimed by a worker that dies before recording goes out again, whole and in order, once
its lease runs out (at least once, durable across a restart)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from notifications.app import definition
from notifications.entrypoints.jobs import DeliveryWorker
from notifications.handlers.batches import claim_webhooks
from notifications.settings import NotificationsSettings
from sikader_shared.clock import FixedClock
from tests.conftest import settings_for
from tests.notifications.support import HttpReceiver, deliveries, eventually, expired, expiring, issue, publish, revoked

pytestmark = pytest.mark.integration
TYPES = ["CertificateExpiring", "CertificateExpired", "CertificateRevoked"]
CADRES = [f"7d1c0a9e-0000-4000-8000-00000000010{i}" for i in range(4)]


async def _service(broker: Any, databases: Any, run_service: Any, tmp_path: Path, **overrides: Any) -> Any:
    no_rules = tmp_path / "rules.json"
    no_rules.write_text("[]")
    clock = FixedClock(datetime(2026, 12, 6, 4, 0, tzinfo=UTC))
    settings = settings_for(
        NotificationsSettings,
        broker,
        databases("notifications"),
        worker_enabled=False,
        rules_file=str(no_rules),
        **overrides,
    )
    return await run_service(definition(settings, clock)), clock


async def _subscribe(svc: Any, hook: HttpReceiver) -> str:
    key = await issue(svc.runtime, "dinkes", ["notifications:subscribe"])
    async with svc.client(key) as client:
        r = await client.post("/subscriptions", json={"url": hook.url, "event_types": TYPES})
        assert r.status_code == 201, r.text
    hook.secret = r.json()["secret"]
    return str(r.json()["id"])


async def _publish_per_key(svc: Any, broker: Any) -> dict[str, list[str]]:
    """Three events for each of the cadres (one aggregate key each), interleaved."""
    items = [
        (make(cadre, f"KDR-{n}"), "certification")
        for make in (expiring, expired, revoked)
        for n, cadre in enumerate(CADRES)
    ]
    ids = await publish(broker.bootstrap, *items)
    per_key: dict[str, list[str]] = defaultdict(list)
    for (event, _), ce_id in zip(items, ids, strict=True):
        per_key[event.aggregate_id()].append(ce_id)
    await eventually(lambda: _count(svc, len(ids)))
    return per_key


def _arrived_per_key(hook: HttpReceiver) -> dict[str, list[str]]:
    per_key: dict[str, list[str]] = defaultdict(list)
    for r in hook.accepted():
        per_key[r.headers["ce-subject"]].append(r.headers["webhook-id"])
    return per_key


async def test_keys_go_concurrently_up_to_the_limit_and_each_key_in_order(
    broker, databases, run_service, tmp_path
) -> None:
    svc, _ = await _service(broker, databases, run_service, tmp_path, webhook_concurrency=3)
    hook = HttpReceiver().start()
    hook.delay = 0.2  # long enough for the POSTs in flight to overlap
    try:
        await _subscribe(svc, hook)
        per_key = await _publish_per_key(svc, broker)
        await DeliveryWorker(svc.runtime).tick()
        assert all(r.verified for r in hook.accepted()) and len(hook.accepted()) == 12
        assert _arrived_per_key(hook) == per_key  # every key's events in their order, once
        assert hook.max_in_flight == 3  # four keys due at once, three at a time: the limit
        assert {d.status for d in await deliveries(svc.runtime)} == {"delivered"}
    finally:
        hook.stop()


async def test_a_claimed_batch_left_by_a_dead_worker_goes_again_after_its_lease(
    broker, databases, run_service, tmp_path
) -> None:
    svc, clock = await _service(broker, databases, run_service, tmp_path)
    hook = HttpReceiver().start()
    try:
        sub_id = await _subscribe(svc, hook)
        per_key = await _publish_per_key(svc, broker)
        dead = DeliveryWorker(svc.runtime)
        async with svc.runtime.uow() as uow:  # a worker claims a batch, commits, and dies
            due, attempts = await claim_webhooks(uow, f"sub:{sub_id}", 100, dead.lease)
            await uow.commit()
        assert due == len(attempts) == len(CADRES)  # the head of each key's queue
        assert {a.number for a in attempts} == {1}

        restarted = DeliveryWorker(svc.runtime)  # after a restart: the claimed rows are leased
        assert await restarted.tick() == 0 and hook.requests == []
        clock.advance(dead.lease + timedelta(seconds=1))
        await restarted.tick()
        assert _arrived_per_key(hook) == per_key  # all of them, in order per key, once each
        rows = await deliveries(svc.runtime)
        assert {d.status for d in rows} == {"delivered"}
        heads = {a.delivery_id for a in attempts}
        assert {d.attempts for d in rows if d.id in heads} == {2}  # the lost attempt counted
        assert {d.attempts for d in rows if d.id not in heads} == {1}
    finally:
        hook.stop()


async def _count(svc: Any, n: int) -> bool:
    return len(await deliveries(svc.runtime)) == n
