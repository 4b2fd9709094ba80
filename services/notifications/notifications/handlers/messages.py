"""A public event received: kept (for re-delivery), then its deliveries planned: a signed
webhook per matching subscription, a message per rule recipient and channel."""

from __future__ import annotations

import functools
import json
from typing import Any

from sqlalchemy import event as sa_event

from notifications.adapters import repository as repo
from notifications.adapters.tables import CadreRow, PosyanduRow, ReceivedEventRow
from notifications.config import NotificationsConfig
from notifications.domain.rules import Audience, plan_messages
from notifications.domain.subscriptions import SUBSCRIBABLE
from notifications.handlers.deliveries import new_delivery, new_message_state
from notifications.handlers.subscriptions import plan_webhooks
from sikader_shared.envelope import Envelope
from sikader_shared.events import EVENT_MODELS, Event
from sikader_shared.inbox import Handler
from sikader_shared.uow import UnitOfWork


async def on_public_event(config: NotificationsConfig, uow: UnitOfWork, event: Event, env: Envelope) -> None:
    """Keep the event once (a redelivered one is already planned) and plan its deliveries."""
    if await repo.is_event_kept(uow.session, env.id):
        return
    payload = event.to_json_dict()
    received = await keep_event(uow, event, env, payload)
    await plan_webhooks(uow, received)
    await plan_rule_messages(uow, config, event, received, payload)
    _wake_after_commit(uow, config)


def _wake_after_commit(uow: UnitOfWork, config: NotificationsConfig) -> None:
    """Wake the delivery worker once this transaction (the consumer's batch) commits: the
    deliveries are due now, not at the next poll."""
    sync = uow.session.sync_session
    if not sync.info.get("ntf.wake"):
        sync.info["ntf.wake"] = True
        sa_event.listen(sync, "after_commit", lambda _session: config.wakeup.set(), once=True)


async def keep_event(uow: UnitOfWork, event: Event, env: Envelope, payload: dict[str, Any]) -> ReceivedEventRow:
    kec, kel = await _area_of(uow, payload)
    received = ReceivedEventRow(
        event_id=env.id,
        ce_type=env.type,
        subject=env.subject or event.aggregate_id(),
        time=env.time,
        headers=env.headers(),
        payload=json.dumps(payload, separators=(",", ":"), ensure_ascii=False),
        kecamatan_code=kec,
        kelurahan_code=kel,
        received_at=uow.clock.now(),
    )
    uow.session.add(received)
    await uow.session.flush()  # its seq orders the deliveries
    return received


async def _area_of(uow: UnitOfWork, payload: dict[str, Any]) -> tuple[str | None, str | None]:
    """The event's area: its own codes, else its cadre's or Posyandu's (projected)."""
    kec, kel = payload.get("kecamatan_code"), payload.get("kelurahan_code")
    if kec or kel:
        return kec, kel
    if payload.get("cadre_id"):
        cadre = await uow.session.get(CadreRow, payload["cadre_id"])
        if cadre is not None:
            return cadre.kecamatan_code, cadre.kelurahan_code
    if payload.get("posyandu_id"):
        posyandu = await uow.session.get(PosyanduRow, payload["posyandu_id"])
        if posyandu is not None:
            return posyandu.kecamatan_code, posyandu.kelurahan_code
    return None, None


async def _audience(uow: UnitOfWork, config: NotificationsConfig, payload: dict[str, Any]) -> Audience:
    """Who can be reached about the event: its cadre, the Posyandu's head cadre, its Puskesmas."""
    cadre_id = payload.get("cadre_id")
    posyandu_id = payload.get("posyandu_id")
    if posyandu_id is None and cadre_id:
        cadre = await uow.session.get(CadreRow, cadre_id)
        posyandu_id = cadre.posyandu_id if cadre else None
    posyandu = await uow.session.get(PosyanduRow, posyandu_id) if posyandu_id else None
    puskesmas = posyandu.puskesmas if posyandu else None
    return Audience(
        cadre_id=cadre_id,
        head_cadre_id=await repo.head_cadre_of(uow.session, posyandu_id),
        puskesmas=puskesmas,
        puskesmas_email_known=bool(puskesmas and puskesmas in config.settings.puskesmas_inboxes),
    )


async def plan_rule_messages(
    uow: UnitOfWork, config: NotificationsConfig, event: Event, received: ReceivedEventRow, payload: dict[str, Any]
) -> None:
    assert received.seq is not None
    audience = await _audience(uow, config, payload)
    now = received.received_at
    for plan in plan_messages(config.rules, type(event).event_name, payload, audience, config.inboxes):
        state = await new_message_state(uow, config, plan.recipient_type, plan.recipient_id, plan.channel, now)
        row = new_delivery(
            source_key=received.event_id,
            recipient_type=plan.recipient_type,
            recipient_id=plan.recipient_id,
            channel=plan.channel,
            lane=f"{plan.recipient_type}:{plan.recipient_id}:{plan.channel}",
            aggregate_key=received.subject,
            seq=received.seq,
            now=now,
            template=plan.template,
            language=plan.language,
            source_event_id=received.event_id,
            source_event_type=received.ce_type,
        )
        row.status, row.last_error, row.next_attempt_at = state.status, state.reason, state.first_attempt_at
        uow.session.add(row)


def event_handlers(config: NotificationsConfig) -> dict[type[Event], Handler]:
    """Every public event a subscriber may receive (never the private topic)."""
    on_event = functools.partial(on_public_event, config)
    return {EVENT_MODELS[ce_type]: on_event for ce_type in SUBSCRIBABLE}
