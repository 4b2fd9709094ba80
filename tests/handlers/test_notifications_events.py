"""Notifications' event handlers (projections, a public event kept and planned) and the two
ends of a delivery attempt: the rows and the outcome events, without a broker."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from notifications.adapters.tables import CadreRow, ContactRow, DeliveryRow, ReceivedEventRow
from notifications.config import NotificationsConfig
from notifications.domain.signing import WebhookKeys, secret_from_legacy
from notifications.entrypoints.consumers import event_handlers
from notifications.handlers import subscriptions
from notifications.handlers.deliveries import record_attempt, start_attempt
from notifications.settings import NotificationsSettings
from sikader_shared.envelope import Envelope, new_envelope
from sikader_shared.events import CadreUpdated, Event, NotificationDelivered, NotificationFailed
from sikader_shared.testing.handlers import HandlerHarness
from sikader_shared.uow import Actor
from tests.conftest import CONTACT_KEY
from tests.notifications.support import KEC, KEL, cadre, certified, contact

LEASE = timedelta(seconds=90)
DINKES = Actor("dinkes", scopes=frozenset({"notifications:subscribe"}))


def config(**overrides: object) -> NotificationsConfig:
    settings = NotificationsSettings(contact_key=CONTACT_KEY, public_base_url="http://sikader.test", **overrides)
    return NotificationsConfig.from_settings(settings)


async def consume(db: HandlerHarness, cfg: NotificationsConfig, event: Event, env: Envelope | None = None) -> Envelope:
    """Run the handler the consumer runs for the event, in a unit of work caused by it."""
    env = env or new_envelope(
        service="registry", ce_type=event.ce_type(), subject=event.aggregate_id(), time=db.clock.now(), actor="test"
    )
    async with db.uow(causation=env) as uow:
        await event_handlers(cfg)[type(event)](uow, event, env)
        await uow.commit()
    return env


async def test_registry_events_are_projected_and_an_older_one_changes_nothing(notifications_db: HandlerHarness) -> None:
    cfg = config()
    siti = cadre(name="Siti Aminah", posyandu_id="p-1", posyandu_role="ketua")
    await consume(notifications_db, cfg, siti)
    await consume(notifications_db, cfg, contact(siti.cadre_id, email="siti@example.org"))
    [row] = await notifications_db.rows(CadreRow, cadre_id=siti.cadre_id)
    assert (row.name, row.posyandu_role, row.kecamatan_code, row.status) == ("Siti Aminah", "ketua", KEC, "active")
    [kept] = await notifications_db.rows(ContactRow, cadre_id=siti.cadre_id)
    assert kept.email_enc and "siti@" not in kept.email_enc and kept.phone_enc is None  # still encrypted

    fields = siti.model_dump(exclude={"registered_at"})
    renamed = CadreUpdated(**{**fields, "name": "Siti Lama", "updated_at": notifications_db.clock.now()})
    older = new_envelope(
        service="registry",
        ce_type=renamed.ce_type(),
        subject=siti.cadre_id,
        time=notifications_db.clock.now() - timedelta(days=1),
        actor="test",
    )
    await consume(notifications_db, cfg, renamed, older)
    [row] = await notifications_db.rows(CadreRow, cadre_id=siti.cadre_id)
    assert row.name == "Siti Aminah"  # the re-published older state lost
    assert await notifications_db.new_events() == []  # projections emit nothing


async def test_a_public_event_is_kept_once_with_a_webhook_and_the_rule_messages(
    notifications_db: HandlerHarness,
) -> None:
    cfg = config()
    siti = cadre()
    await consume(notifications_db, cfg, siti)
    await consume(notifications_db, cfg, contact(siti.cadre_id, email="siti@example.org"))  # no phone
    async with notifications_db.uow(DINKES) as uow:
        here = await subscriptions.create_subscription(
            uow, "https://a.example/h", "s" * 16, ["CadreCertified"], [KEC], [], None
        )
        await subscriptions.create_subscription(
            uow, "https://b.example/h", "s" * 16, ["CadreCertified"], ["64.71.02"], [], None
        )
        await uow.commit()

    env = await consume(notifications_db, cfg, certified(siti.cadre_id))
    [kept] = await notifications_db.rows(ReceivedEventRow, event_id=env.id)
    assert (kept.kecamatan_code, kept.kelurahan_code) == (KEC, KEL)
    rows = await notifications_db.rows(DeliveryRow, source_event_id=env.id)
    assert sorted((r.recipient_type, r.channel, r.status, r.last_error) for r in rows) == [
        ("cadre", "email", "pending", None),
        ("cadre", "whatsapp", "skipped", "no phone on record"),
        ("subscription", "webhook", "pending", None),
    ]
    assert [r.subscription_id for r in rows if r.channel == "webhook"] == [here.id]  # not the other kecamatan's

    await consume(notifications_db, cfg, certified(siti.cadre_id), env)  # the same event again
    assert len(await notifications_db.rows(DeliveryRow)) == 3
    assert await notifications_db.new_events() == []


async def test_an_attempt_is_claimed_sent_and_recorded_with_its_outcome_event(notifications_db: HandlerHarness) -> None:
    cfg = config()
    siti = cadre()
    await consume(notifications_db, cfg, siti)
    async with notifications_db.uow(DINKES) as uow:
        sub = await subscriptions.create_subscription(
            uow, "https://a.example/h", "s" * 16, ["CadreCertified"], [], [], None
        )
        await uow.commit()
    env = await consume(notifications_db, cfg, certified(siti.cadre_id))
    [webhook] = await notifications_db.rows(DeliveryRow, channel="webhook")

    async with notifications_db.uow() as uow:
        moved, attempt = await start_attempt(uow, cfg, webhook.id, LEASE)
        await uow.commit()
    assert moved and attempt is not None and attempt.number == 1 and attempt.cause == env.id
    assert attempt.message is not None and attempt.message.to == sub.url
    # A client-chosen secret (deprecated): its whsec_ form signs, and it signs the old headers.
    assert attempt.message.keys == WebhookKeys((sub.secret,), sub.secret) and sub.secret == secret_from_legacy("s" * 16)
    assert attempt.message.webhook_id == env.id
    assert attempt.message.headers["ce-id"] == env.id
    async with notifications_db.uow() as uow:  # leased: a second worker gets nothing to do
        assert await start_attempt(uow, cfg, webhook.id, LEASE) == (False, None)

    async with notifications_db.uow() as uow:
        await record_attempt(uow, cfg, attempt, None, False, 0.5)
        await uow.commit()
    [delivered] = await notifications_db.new_events()
    assert isinstance(delivered, NotificationDelivered)
    assert (delivered.subscription_id, delivered.source_event_id, delivered.attempts) == (sub.id, env.id, 1)
    [row] = await notifications_db.rows(DeliveryRow, id=webhook.id)
    assert row.status == "delivered" and row.delivered_at is not None


async def test_without_a_contact_key_a_cadre_message_waits_then_fails(notifications_db: HandlerHarness) -> None:
    cfg = dataclasses.replace(config(retry_schedule_s=[60.0], retry_jitter=0.0), cipher=None)
    siti = cadre()
    await consume(notifications_db, cfg, siti)
    await consume(notifications_db, cfg, contact(siti.cadre_id, email="siti@example.org"))
    await consume(notifications_db, cfg, certified(siti.cadre_id))
    [email] = await notifications_db.rows(DeliveryRow, channel="email")

    for attempts, status in ((1, "pending"), (2, "failed")):
        async with notifications_db.uow() as uow:
            _, attempt = await start_attempt(uow, cfg, email.id, LEASE)
            await uow.commit()
        assert attempt is not None and attempt.message is None and attempt.problem is not None
        async with notifications_db.uow() as uow:
            await record_attempt(uow, cfg, attempt, attempt.problem.reason, attempt.problem.permanent, 0.5)
            await uow.commit()
        [row] = await notifications_db.rows(DeliveryRow, id=email.id)
        assert (row.attempts, row.status, row.last_error) == (attempts, status, "no contact key configured")
        notifications_db.clock.advance(timedelta(seconds=61))
    [failed] = await notifications_db.new_events()
    assert isinstance(failed, NotificationFailed) and failed.reason == "no contact key configured"


@pytest.mark.parametrize("key", ["not-a-fernet-key"])
def test_a_contact_key_that_is_not_a_fernet_key_stops_the_service_at_start(key: str) -> None:
    with pytest.raises(ValueError, match="SIKADER_CONTACT_KEY"):
        NotificationsConfig.from_settings(NotificationsSettings(contact_key=key))
