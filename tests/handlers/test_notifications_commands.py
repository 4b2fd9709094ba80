"""Notifications' commands: subscriptions, broadcasts and a cadre's consent. The rows, the
audit entries, and the refusals that write nothing."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from notifications.adapters.tables import BroadcastRow, CadreRow, ContactRow, DeliveryRow, OptOutRow, SubscriptionRow
from notifications.config import NotificationsConfig
from notifications.domain.signing import (
    WebhookKeys,
    new_secret,
    secret_from_legacy,
    secret_key,
    unsubscribe_token,
    verify_webhook,
    webhook_headers,
)
from notifications.handlers import broadcasts, consent, subscriptions
from notifications.handlers.composing import signing_keys
from notifications.handlers.deliveries import new_delivery
from notifications.settings import NotificationsSettings
from sikader_shared.clock import utc
from sikader_shared.errors import Invalid, NotFound
from sikader_shared.testing.handlers import START, HandlerHarness
from sikader_shared.uow import Actor
from tests.conftest import CONTACT_KEY
from tests.notifications.support import KEC, KEL

DINKES = Actor("dinkes", scopes=frozenset({"notifications:subscribe"}))
DINSOS = Actor("dinsos", scopes=frozenset({"notifications:broadcast"}))
CERTIFIED = "sikader.certification.CadreCertified.v1"


def config(**overrides: object) -> NotificationsConfig:
    settings = NotificationsSettings(contact_key=CONTACT_KEY, public_base_url="http://sikader.test", **overrides)
    return NotificationsConfig.from_settings(settings)


async def test_a_subscription_is_created_paused_and_deleted_by_its_owner_only(notifications_db: HandlerHarness) -> None:
    async with notifications_db.uow(DINKES) as uow:
        sub = await subscriptions.create_subscription(
            uow, "https://sim.example/h", "s" * 16, ["CadreCertified", CERTIFIED], [KEC, KEC], [], "SIM"
        )
        await uow.commit()
    [row] = await notifications_db.rows(SubscriptionRow, id=sub.id)
    assert (row.client_id, row.event_types, row.kecamatan_codes, row.status) == ("dinkes", [CERTIFIED], [KEC], "active")

    async with notifications_db.uow(DINKES) as uow:
        await subscriptions.set_subscription_status(uow, sub.id, "paused")
        uow.session.add(
            new_delivery(
                source_key="e-1",
                recipient_type="subscription",
                recipient_id=sub.id,
                channel="webhook",
                lane=f"sub:{sub.id}",
                aggregate_key="a-1",
                seq=1,
                now=START,
                subscription_id=sub.id,
            )
        )
        await uow.commit()
    async with notifications_db.uow(Actor("dinsos")) as uow:  # another client's: as if missing
        with pytest.raises(NotFound):
            await subscriptions.delete_subscription(uow, sub.id)
    async with notifications_db.uow(DINKES) as uow:
        assert await subscriptions.delete_subscription(uow, sub.id) == {
            "id": sub.id,
            "deleted": True,
            "pending_skipped": 1,
        }
        await uow.commit()
    assert await notifications_db.rows(SubscriptionRow) == []
    [skipped] = await notifications_db.rows(DeliveryRow)
    assert (skipped.status, skipped.last_error) == ("skipped", "subscription deleted")
    trail = await notifications_db.audit("subscription", sub.id)
    assert [a["action"] for a in trail] == ["subscription.create", "subscription.pause", "subscription.delete"]
    assert trail[0]["after"]["url"] == "https://sim.example/h" and "secret" not in trail[0]["after"]
    assert await notifications_db.events() == []


@pytest.mark.parametrize(
    ("url", "types", "field"),
    [
        ("http://127.0.0.1/hook", ["CadreCertified"], "url"),  # inside the city's network
        ("https://sim.example/h", ["CadreContactChanged"], "event_types"),  # the private topic
    ],
)
async def test_a_refused_subscription_writes_nothing(
    notifications_db: HandlerHarness, url: str, types: list[str], field: str
) -> None:
    async with notifications_db.uow(DINKES) as uow:
        with pytest.raises(Invalid) as refused:
            await subscriptions.create_subscription(uow, url, "s" * 16, types, [], [], None)
    assert refused.value.body()["field"] == field
    assert await notifications_db.rows(SubscriptionRow) == []


async def _cadres(db: HandlerHarness, *specs: tuple[str, list[str], str | None]) -> list[str]:
    """Projected active cadres (kecamatan, roles, email) in KEC's kelurahan or another."""
    ids = []
    async with db.uow() as uow:
        for kec, roles, email in specs:
            cadre_id = str(uuid.uuid4())
            kel = KEL if kec == KEC else f"{kec}.1001"
            uow.session.add(
                CadreRow(cadre_id=cadre_id, roles=roles, kecamatan_code=kec, kelurahan_code=kel, version_at=START)
            )
            uow.session.add(ContactRow(cadre_id=cadre_id, email_enc=email, phone_enc=None, changed_at=START))
            ids.append(cadre_id)
        await uow.commit()
    return ids


async def test_a_broadcast_addresses_the_area_and_roles_paced_and_completes(notifications_db: HandlerHarness) -> None:
    ani, budi, _pkk, _elsewhere = await _cadres(
        notifications_db,
        (KEC, ["posyandu_cadre"], "enc-ani"),
        (KEC, ["posyandu_cadre"], None),  # no email on record
        (KEC, ["pkk"], "enc-pkk"),
        ("64.71.02", ["posyandu_cadre"], "enc-eka"),
    )
    async with notifications_db.uow(DINSOS) as uow:
        started = await broadcasts.start_broadcast(
            uow, config(), "Rapat", "Rapat kader hari Sabtu.", ["email"], [KEC], [], ["posyandu_cadre"], 1
        )
        await uow.commit()
    assert started == {"id": started["id"], "recipients": 2, "messages": 1, "status": "sending"}
    rows = {r.recipient_id: r for r in await notifications_db.rows(DeliveryRow, broadcast_id=started["id"])}
    assert set(rows) == {ani, budi}
    assert (rows[ani].status, rows[budi].status, rows[budi].last_error) == ("pending", "skipped", "no email on record")
    assert [a["action"] for a in await notifications_db.audit("broadcast", started["id"])] == ["broadcast.start"]

    async with notifications_db.uow() as uow:
        assert await broadcasts.complete_broadcasts(uow) == 0  # Ani's message is still pending
        row = await uow.session.get(DeliveryRow, rows[ani].id)
        assert row is not None
        row.status = "delivered"
        uow.session.add(row)
        await uow.commit()
    async with notifications_db.uow() as uow:
        assert await broadcasts.complete_broadcasts(uow) == 1
        await uow.commit()
    [done] = await notifications_db.rows(BroadcastRow, id=started["id"])
    assert done.status == "completed" and done.tally == {"pending": 0, "delivered": 1, "failed": 0, "skipped": 1}


async def test_a_broadcast_faster_than_allowed_is_refused(notifications_db: HandlerHarness) -> None:
    await _cadres(notifications_db, (KEC, ["posyandu_cadre"], "enc"))
    async with notifications_db.uow(DINSOS) as uow:
        with pytest.raises(Invalid, match="rate_per_minute"):
            await broadcasts.start_broadcast(uow, config(), "Rapat", "Isi.", ["email"], [], [], [], 100_000)
    assert await notifications_db.rows(BroadcastRow) == [] and await notifications_db.rows(DeliveryRow) == []


async def test_unsubscribing_skips_pending_messages_and_resubscribing_undoes_it(
    notifications_db: HandlerHarness,
) -> None:
    cfg = config()
    [ani] = await _cadres(notifications_db, (KEC, ["posyandu_cadre"], "enc-ani"))
    async with notifications_db.uow(DINSOS) as uow:
        await broadcasts.start_broadcast(uow, cfg, "Rapat", "Isi.", ["email"], [], [], [], None)
        await uow.commit()
    token = cfg.unsubscribe_url(ani, "email").rsplit("/", 1)[1]

    for _ in range(2):  # a second click changes nothing more
        async with notifications_db.uow(Actor("public")) as uow:
            assert await consent.unsubscribe(uow, cfg, token) == (ani, "email")
            await uow.commit()
    assert len(await notifications_db.rows(OptOutRow, cadre_id=ani)) == 1
    [skipped] = await notifications_db.rows(DeliveryRow, recipient_id=ani)
    assert (skipped.status, skipped.last_error) == ("skipped", "unsubscribed")
    async with notifications_db.sessions() as session:
        assert await consent.consent_state(session, cfg, token) == (ani, "email", True)

    notifications_db.clock.advance(timedelta(minutes=1))
    async with notifications_db.uow(Actor("public")) as uow:
        await consent.resubscribe(uow, cfg, token)
        await uow.commit()
    assert await notifications_db.rows(OptOutRow) == []
    assert [a["action"] for a in await notifications_db.audit("cadre", ani)] == [
        "cadre.unsubscribe",
        "cadre.resubscribe",
    ]


async def test_an_altered_unsubscribe_token_is_refused(notifications_db: HandlerHarness) -> None:
    cfg = config()
    forged = unsubscribe_token(b"not the service's secret", "some-cadre", "email")
    async with notifications_db.uow(Actor("public")) as uow:
        with pytest.raises(NotFound):
            await consent.unsubscribe(uow, cfg, forged)
    assert await notifications_db.rows(OptOutRow) == []


async def test_a_rotation_signs_with_both_secrets_for_the_grace_period_then_with_the_new_one_only(
    notifications_db: HandlerHarness,
) -> None:
    async with notifications_db.uow(DINKES) as uow:
        older = await subscriptions.create_subscription(
            uow, "https://sim.example/h", "client-chosen-secret", [CERTIFIED], [], [], None
        )
        fresh = await subscriptions.create_subscription(uow, "https://sim.example/g", None, [CERTIFIED], [], [], None)
        await uow.commit()
    chosen = secret_from_legacy("client-chosen-secret")
    assert secret_key(chosen) == b"client-chosen-secret"  # the same key as the X-Sikader signature's
    assert fresh.legacy_secret is None and len(secret_key(fresh.secret)) == 32
    assert signing_keys(fresh, START) == WebhookKeys((fresh.secret,), None)
    assert signing_keys(older, START) == WebhookKeys((chosen,), chosen)

    async with notifications_db.uow(Actor("dinsos", scopes=DINKES.scopes)) as uow:  # not its own: as if missing
        with pytest.raises(NotFound):
            await subscriptions.rotate_secret(uow, older.id, timedelta(hours=1))
    async with notifications_db.uow(DINKES) as uow:
        await subscriptions.rotate_secret(uow, older.id, timedelta(hours=1))
        await uow.commit()
    [row] = await notifications_db.rows(SubscriptionRow, id=older.id)
    assert row.secret.startswith("whsec_") and row.secret != chosen and row.previous_secret == chosen
    assert row.previous_until is not None and row.legacy_until == row.previous_until
    end = utc(row.previous_until)
    # During the grace period: two signatures, and the deprecated headers by the chosen secret.
    assert signing_keys(row, end - timedelta(seconds=1)) == WebhookKeys((row.secret, chosen), chosen)
    # After it: the new whsec_ secret alone, and no deprecated headers any more.
    assert signing_keys(row, end) == WebhookKeys((row.secret,), None)

    trail = await notifications_db.audit("subscription", older.id)
    assert [a["action"] for a in trail] == ["subscription.create", "subscription.rotate_secret"]
    assert "whsec_" not in str(trail) and "client-chosen-secret" not in str(trail)


def test_standard_webhooks_headers_match_the_official_test_vector_and_the_library() -> None:
    secret, msg_id, ts, body = (
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        b'{"test": 2432232314}',
    )
    headers = webhook_headers(WebhookKeys((secret,)), msg_id, "n-1", ts, body)
    assert headers == {
        "webhook-id": msg_id,
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    now = int(time.time())
    other = new_secret()
    both = webhook_headers(WebhookKeys((other, secret), "whsec_" + "c2VjcmV0LXNlY3JldC0w"), msg_id, "n-1", now, body)
    first, second = both["webhook-signature"].split(" ")
    for key in (secret, other):  # either secret verifies with the library during the grace period
        assert Webhook(key).verify(body, both, json_parse=False) is None
    assert second == webhook_headers(WebhookKeys((secret,)), msg_id, "n", now, body)["webhook-signature"]
    assert first != second
    assert both["X-Sikader-Delivery"] == "n-1"
    assert verify_webhook("secret-secret-0", both["X-Sikader-Timestamp"], body, both["X-Sikader-Signature"], now)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, both)
