"""The subscription API for outside systems: validation, scopes, tenancy, pause / resume,
delivery log, re-delivery of history from a date; and the OpenAPI document."""

from __future__ import annotations

import ipaddress
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from notifications.app import definition
from notifications.entrypoints.jobs import DeliveryWorker
from notifications.settings import NotificationsSettings
from sikader_shared import topics
from sikader_shared.clock import FixedClock
from tests.conftest import settings_for
from tests.notifications.support import HttpReceiver, deliveries, eventually, expiring, issue, publish, revoked

pytestmark = pytest.mark.integration
SECRET = "puskesmas-secret-0123456789"


async def test_subscription_lifecycle_pause_resume_log_and_redelivery(
    broker, databases, run_service, tmp_path: Path
) -> None:
    no_rules = tmp_path / "rules.json"
    no_rules.write_text("[]")
    clock = FixedClock(datetime(2026, 12, 1, 4, 0, tzinfo=UTC))
    settings = settings_for(
        NotificationsSettings, broker, databases("notifications"), worker_enabled=False, rules_file=str(no_rules)
    )
    svc = await run_service(definition(settings, clock))
    key = await issue(svc.runtime, "puskesmas-damai", ["notifications:subscribe"])
    other = await issue(svc.runtime, "dinsos", ["notifications:subscribe"])
    reader = await issue(svc.runtime, "dinkes", ["registry:read"])
    hook = HttpReceiver().start()
    body = {"url": hook.url, "event_types": ["CertificateExpiring", "CertificateRevoked"]}
    try:
        async with svc.client() as anonymous:
            assert (await anonymous.post("/subscriptions", json=body)).status_code == 401
        async with svc.client(reader) as client:
            assert (await client.post("/subscriptions", json=body)).status_code == 403
        async with svc.client(key) as client:
            bad = await client.post("/subscriptions", json={**body, "url": "not a url", "secret": "short"})
            assert bad.status_code == 422
            assert {tuple(e["loc"]) for e in bad.json()["errors"]} == {("body", "url"), ("body", "secret")}
            private = await client.post("/subscriptions", json={**body, "event_types": ["CadreContactChanged"]})
            assert private.status_code == 422 and private.json()["field"] == "event_types"
            area = await client.post("/subscriptions", json={**body, "kecamatan_codes": ["Balikpapan Kota"]})
            assert area.status_code == 422 and area.json()["errors"][0]["loc"][:2] == ["body", "kecamatan_codes"]
            assert (await client.get("/subscriptions")).json() == []  # nothing was created

            first = await client.post("/subscriptions", json=body, headers={"Idempotency-Key": "sub-1"})
            again = await client.post("/subscriptions", json=body, headers={"Idempotency-Key": "sub-1"})
            assert first.status_code == 201 and again.json() == first.json()
            sub_id, hook.secret = first.json()["id"], first.json()["secret"]
            assert [s["id"] for s in (await client.get("/subscriptions")).json()] == [sub_id]

        async with svc.client(other) as client:
            assert (await client.get(f"/subscriptions/{sub_id}")).status_code == 404
            assert (await client.post(f"/subscriptions/{sub_id}/pause")).status_code == 404
            assert (await client.get(f"/subscriptions/{sub_id}/deliveries")).status_code == 404
            assert (await client.get("/subscriptions")).json() == []

        worker = DeliveryWorker(svc.runtime)
        cadre_id = "5b2c1d3e-0000-4000-8000-000000000002"
        [first_id] = await publish(broker.bootstrap, (expiring(cadre_id), "certification"))
        await eventually(lambda: _count(svc, 1))
        await worker.tick()
        assert [r.headers["ce-id"] for r in hook.accepted()] == [first_id]

        # Paused: events are queued and held; after resume they go out in order.
        async with svc.client(key) as client:
            paused = await client.post(f"/subscriptions/{sub_id}/pause")
            assert paused.status_code == 200 and paused.json()["status"] == "paused"
        held = await publish(
            broker.bootstrap,
            (expiring(cadre_id, "KDR-2"), "certification"),
            (revoked(cadre_id, "KDR-2"), "certification"),
        )
        await eventually(lambda: _count(svc, 3))
        assert await worker.tick() == 0 and len(hook.requests) == 1
        async with svc.client(key) as client:
            assert (await client.post(f"/subscriptions/{sub_id}/resume")).json()["status"] == "active"
        await worker.tick()
        assert [r.headers["ce-id"] for r in hook.accepted()] == [first_id, *held]

        # Re-delivery of history from a date: the kept events again, same ce-id, in order.
        since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        async with svc.client(key) as client:
            bad_since = await client.post(f"/subscriptions/{sub_id}/redeliver", json={"since": "2026-11-01T00:00:00"})
            assert bad_since.status_code == 422  # a time without a zone is ambiguous
            replay = await client.post(f"/subscriptions/{sub_id}/redeliver", json={"since": since})
            assert replay.status_code == 202 and replay.json()["queued"] == 3
            only_revoked = await client.post(
                f"/subscriptions/{sub_id}/redeliver", json={"since": since, "event_types": ["CertificateRevoked"]}
            )
            assert only_revoked.json()["queued"] == 1
            future = await client.post(f"/subscriptions/{sub_id}/redeliver", json={"since": "2030-01-01T00:00:00Z"})
            assert future.json()["queued"] == 0
        await worker.tick()
        ce_ids = [r.headers["ce-id"] for r in hook.accepted()]
        assert ce_ids == [first_id, *held, first_id, *held, held[1]]
        async with svc.client(key) as client:
            log = (await client.get(f"/subscriptions/{sub_id}/deliveries")).json()
            assert len(log) == 7 and {d["status"] for d in log} == {"delivered"}
            assert [d["replay_id"] for d in log[:3]] == [None] * 3
            assert log[3]["replay_id"] == replay.json()["replay_id"]
            failed = await client.get(f"/subscriptions/{sub_id}/deliveries", params={"status": "failed"})
            assert failed.json() == []

            # Deleting the subscription stops everything for it.
            gone = await client.delete(f"/subscriptions/{sub_id}")
            assert gone.status_code == 200 and gone.json()["deleted"] is True
            assert (await client.get(f"/subscriptions/{sub_id}")).status_code == 404

            spec = (await client.get("/openapi.json")).json()
            asyncapi = (await client.get("/asyncapi.json")).json()
        addresses = {c["address"] for c in asyncapi["channels"].values()}
        assert {topics.CERTIFICATION, topics.CADRE_PRIVATE, topics.NOTIFICATIONS} <= addresses
        paths = spec["paths"]
        one = "/subscriptions/{subscription_id}"
        for path in (
            "/subscriptions",
            f"{one}/pause",
            f"{one}/resume",
            f"{one}/deliveries",
            f"{one}/redeliver",
            f"{one}/secret/rotate",
            "/broadcasts",
            "/broadcasts/{broadcast_id}",
            "/unsubscribe/{token}",
            "/rules",
            "/deliveries",
        ):
            assert path in paths, path
        schemas = spec["components"]["schemas"]
        for name in (
            "SubscriptionCreate",
            "SubscriptionPublic",
            "DeliveryPublic",
            "BroadcastCreate",
            "BroadcastPublic",
            "RedeliverRequest",
            "SubscriptionCreated",
            "SecretRotated",
        ):
            assert schemas[name].get("examples"), name
    finally:
        hook.stop()


async def test_webhooks_go_to_public_addresses_only(broker, databases, run_service, tmp_path: Path) -> None:
    """With the production setting, an OPD key cannot make the service call inside the city's
    network: a URL naming this machine or a non-public IP is refused when registered, and a
    name that resolves to one is refused when a delivery resolves it (failed at once, the
    receiver never reached)."""
    no_rules = tmp_path / "rules.json"
    no_rules.write_text("[]")
    settings = settings_for(
        NotificationsSettings,
        broker,
        databases("notifications"),
        worker_enabled=False,
        rules_file=str(no_rules),
        webhook_allow_private_networks=False,
    )
    svc = await run_service(definition(settings, FixedClock(datetime(2026, 12, 1, 4, 0, tzinfo=UTC))))
    key = await issue(svc.runtime, "puskesmas-damai", ["notifications:subscribe"])
    hook = HttpReceiver(SECRET).start()
    body = {"url": hook.url, "secret": SECRET, "event_types": ["CertificateExpiring"]}
    try:
        async with svc.client(key) as client:
            for url in (
                hook.url,  # 127.0.0.1
                f"http://localhost:{hook.port}/hook",
                "http://[::1]:8080/hook",
                "http://10.20.30.40/hook",
                "http://192.168.1.10/hook",
                "http://169.254.169.254/latest/meta-data/",  # a cloud metadata endpoint
                "http://100.64.0.1/hook",  # carrier-grade NAT
                "http://[::ffff:127.0.0.1]/hook",
            ):
                refused = await client.post("/subscriptions", json={**body, "url": url})
                assert refused.status_code == 422, (url, refused.text)
                assert refused.json()["field"] == "url" and "refused" in refused.json()["detail"], refused.text
            assert (await client.get("/subscriptions")).json() == []

            # A host name passes registration; it is resolved, and refused, at delivery.
            host = socket.gethostname()
            resolved = {info[4][0] for info in socket.getaddrinfo(host, None)}
            if all(ipaddress.ip_address(a.split("%")[0]).is_global for a in resolved):
                pytest.skip(f"this machine's name resolves to public addresses only ({resolved})")
            named = await client.post("/subscriptions", json={**body, "url": f"http://{host}:{hook.port}/hook"})
            assert named.status_code == 201, named.text
            sub_id = named.json()["id"]

        cadre_id = "5b2c1d3e-0000-4000-8000-000000000009"
        [event_id] = await publish(broker.bootstrap, (expiring(cadre_id), "certification"))
        await eventually(lambda: _count(svc, 1))
        await DeliveryWorker(svc.runtime).tick()
        assert hook.requests == [] and hook.arrived == 0
        async with svc.client(key) as client:
            [log] = (await client.get(f"/subscriptions/{sub_id}/deliveries")).json()
        assert (log["source_event_id"], log["status"], log["attempts"]) == (event_id, "failed", 1)
        assert log["last_error"] == f"webhook destination refused: {host} resolves to a non-public address"
        assert not any(a in log["last_error"] for a in resolved)  # the internal address is not shown
    finally:
        hook.stop()


async def _count(svc, n: int) -> bool:  # type: ignore[no-untyped-def]
    return len(await deliveries(svc.runtime)) == n
