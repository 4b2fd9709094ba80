"""Standard Webhooks, end to end: real deliveries from the service to HTTP receivers,
verified with the PyPI `standardwebhooks` library (1.3.0); a subscription made before the
upgrade (a client-chosen secret, migrated by 0004) gets both header sets; a rotation signs
with both secrets for the grace period, then with the new one alone."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from notifications.app import SERVICE_DIR, definition
from notifications.entrypoints.jobs import DeliveryWorker
from notifications.settings import NotificationsSettings
from sikader_shared.clock import FixedClock
from sikader_shared.db import make_engine
from sikader_shared.migrations import alembic_config
from tests.conftest import settings_for
from tests.notifications.support import (
    HttpReceiver,
    Received,
    deliveries,
    eventually,
    expiring,
    issue,
    publish,
    whsec_of,
)

pytestmark = pytest.mark.integration
LEGACY = "dinkes-chose-this-secret-0123"
OLDER_ID = "0b0b0b0b-0000-4000-8000-000000000001"
GRACE_S = 3600
OLD_SUBSCRIPTIONS = sa.table(  # ntf_subscriptions as 0002 made it
    "ntf_subscriptions",
    *(sa.column(name, sa.String) for name in ("id", "client_id", "url", "secret", "status")),
    *(sa.column(name, sa.JSON) for name in ("event_types", "kecamatan_codes", "kelurahan_codes")),
    *(sa.column(name, sa.DateTime(timezone=True)) for name in ("created_at", "updated_at")),
)


async def _migrated_with_an_older_subscription(url: str, hook_url: str) -> None:
    """The schema before Standard Webhooks, with a subscription whose client chose its secret."""
    await asyncio.to_thread(command.upgrade, alembic_config(SERVICE_DIR, url), "notifications_0003")
    engine = make_engine(url)
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.execute(
            OLD_SUBSCRIPTIONS.insert().values(
                id=OLDER_ID,
                client_id="dinkes",
                url=hook_url,
                secret=LEGACY,
                event_types=["sikader.certification.CertificateExpiring.v1"],
                kecamatan_codes=[],
                kelurahan_codes=[],
                status="active",
                created_at=now,
                updated_at=now,
            )
        )
    await engine.dispose()


def _signatures(request: Received) -> list[str]:
    return request.headers["webhook-signature"].split(" ")


def _verifies(secret: str, request: Received) -> bool:
    try:
        Webhook(secret).verify(request.body, request.headers)
    except WebhookVerificationError:
        return False
    return True


async def test_standard_webhooks_verify_with_the_library_across_migration_and_rotation(
    broker, databases, run_service, tmp_path: Path
) -> None:
    no_rules = tmp_path / "rules.json"
    no_rules.write_text("[]")
    older_hook = HttpReceiver(whsec_of(LEGACY), legacy_secret=LEGACY).start()
    fresh_hook = HttpReceiver().start()
    url = databases("notifications")
    await _migrated_with_an_older_subscription(url, older_hook.url)
    clock = FixedClock(datetime(2026, 12, 6, 4, 0, tzinfo=UTC))
    settings = settings_for(
        NotificationsSettings,
        broker,
        url,
        worker_enabled=False,
        rules_file=str(no_rules),
        webhook_secret_grace_s=GRACE_S,
    )
    svc = await run_service(definition(settings, clock))  # migrates to head: 0004 converts the secret
    dinkes = await issue(svc.runtime, "dinkes", ["notifications:subscribe"])
    dinsos = await issue(svc.runtime, "dinsos", ["notifications:subscribe"])
    worker = DeliveryWorker(svc.runtime)
    cadre_id = "5b2c1d3e-0000-4000-8000-00000000000a"

    async def deliver(number: str, total: int) -> str:
        [ce_id] = await publish(broker.bootstrap, (expiring(cadre_id, number), "certification"))
        await eventually(lambda: _count(svc, total))
        await worker.tick()
        return ce_id

    try:
        async with svc.client(dinkes) as client:
            created = await client.post(
                "/subscriptions", json={"url": fresh_hook.url, "event_types": ["CertificateExpiring"]}
            )
            assert created.status_code == 201, created.text
            fresh = created.json()
            assert fresh["secret"].startswith("whsec_") and len(Webhook(fresh["secret"])._whsecret) == 32
            fresh_hook.secret = fresh["secret"]
            shown = (await client.get(f"/subscriptions/{fresh['id']}")).json()
            assert "secret" not in shown and fresh["secret"] not in str((await client.get("/subscriptions")).json())

        # 1. A generated secret: the Standard Webhooks headers only, and the ce-* headers kept.
        first = await deliver("KDR-1", 2)
        [new] = fresh_hook.accepted()
        assert new.verified is True and _verifies(fresh["secret"], new)
        assert new.headers["webhook-id"] == first == new.headers["ce-id"]
        assert new.headers["ce-type"] == "sikader.certification.CertificateExpiring.v1"
        assert len(_signatures(new)) == 1 and not [h for h in new.headers if h.startswith("x-sikader")]
        # 2. The older subscription (client-chosen secret): both header sets, the same key.
        [old] = older_hook.accepted()
        assert old.verified is True and old.headers["webhook-id"] == first
        assert old.headers["x-sikader-delivery"] and old.headers["x-sikader-signature"].startswith("sha256=")

        # 3. Rotation: same scope and owner rules as the other routes; the new secret shown once.
        async with svc.client(dinsos) as client:
            assert (await client.post(f"/subscriptions/{OLDER_ID}/secret/rotate")).status_code == 404
        async with svc.client(dinkes) as client:
            rotated = await client.post(f"/subscriptions/{OLDER_ID}/secret/rotate")
            assert rotated.status_code == 200, rotated.text
            assert (await client.post("/subscriptions/no-such-id/secret/rotate")).status_code == 404
        new_secret = rotated.json()["secret"]
        assert new_secret.startswith("whsec_") and new_secret != whsec_of(LEGACY)
        expires = datetime.fromisoformat(rotated.json()["previous_secret_expires_at"])
        assert expires == clock.now() + timedelta(seconds=GRACE_S)

        # 4. In the grace period: two signatures (either secret verifies), old headers still.
        await deliver("KDR-2", 4)
        during = older_hook.accepted()[-1]
        assert during.verified is True and len(_signatures(during)) == 2 and _verifies(new_secret, during)
        assert "x-sikader-signature" in during.headers

        # 5. After it: the new secret alone, and the deprecated headers are gone.
        clock.advance(timedelta(seconds=GRACE_S))
        older_hook.secret, older_hook.legacy_secret = new_secret, None  # the subscriber switched
        await deliver("KDR-3", 6)
        after = older_hook.accepted()[-1]
        assert len(_signatures(after)) == 1 and _verifies(new_secret, after)
        assert not _verifies(whsec_of(LEGACY), after)
        assert not [h for h in after.headers if h.startswith("x-sikader")]
        assert len(fresh_hook.accepted()) == 3 and all(len(_signatures(r)) == 1 for r in fresh_hook.accepted())
    finally:
        older_hook.stop()
        fresh_hook.stop()


async def _count(svc, n: int) -> bool:  # type: ignore[no-untyped-def]
    return len(await deliveries(svc.runtime)) == n
