"""A public event received: kept (for re-delivery), then its deliveries planned: a signed
webhook per matching subscription, a message per rule recipient and channel."""

from __future__ import annotations

import functools
import json
from typing import Any

from sqlalchemy import event as sa_event

from notifications.adapters import repository as repo
from notifications.adapters.tables import CadreRow, KeptEvent, PosyanduRow, ReceivedEventRow
from notifications.config import NotificationsConfig
from notifications.domain.rules import Audience, plan_messages
from notifications.domain.subscriptions import SUBSCRIBABLE
from notifications.handlers import projections
from notifications.handlers.deliveries import new_delivery, new_message_state
from notifications.handlers.subscriptions import plan_webhooks
from sikader_shared.envelope import Envelope
from sikader_shared.events import EVENT_MODELS, Event
from sikader_shared.inbox import BatchHandler, Handler
from sikader_shared.uow import UnitOfWork


async def on_public_events(config: NotificationsConfig, uow: UnitOfWork, items: list[tuple[Event, Envelope]]) -> None:
    """A run of received events in order: each projected (a registry event), then kept once
    (a redelivered one is already planned) and its deliveries planned, exactly as one by one;
    but the kept events go in with one bulk insert, their sequence numbers drawn at once."""
    kept = await repo.kept_event_ids(uow.session, [env.id for _, env in items])
    cadres = await projections.preload_cadres(uow, [event for event, _ in items])
    fresh = [env.id for _, env in items if env.id not in kept]
    seqs = iter(await repo.next_event_seqs(uow.session, len(set(fresh))))
    planned = False
    for event, env in items:
        project = projections.EVENT_HANDLERS.get(type(event))
        if project is not None:
            await project(uow, event, env)
        if env.id in kept:
            continue
        kept.add(env.id)
        uow.correlation_id, uow.causation_id = env.correlation_id, env.id
        payload = event.to_json_dict()
        received = await keep_event(uow, event, env, payload, next(seqs, None))
        await plan_webhooks(uow, received)
        await plan_rule_messages(uow, config, event, received, payload)
        planned = True
    if planned:
        _wake_after_commit(uow, config)
    del cadres


def _wake_after_commit(uow: UnitOfWork, config: NotificationsConfig) -> None:
    """Wake the delivery worker once this transaction (the consumer's batch) commits: the
    deliveries are due now, not at the next poll."""
    sync = uow.session.sync_session
    if not sync.info.get("ntf.wake"):
        sync.info["ntf.wake"] = True
        sa_event.listen(sync, "after_commit", lambda _session: config.wakeup.set(), once=True)


async def keep_event(
    uow: UnitOfWork, event: Event, env: Envelope, payload: dict[str, Any], seq: int | None = None
) -> KeptEvent:
    """The event kept: with `seq` drawn beforehand it goes in with the batch's bulk insert
    (at the flush), else through the ORM at once (its seq orders the deliveries)."""
    kec, kel = await _area_of(uow, payload)
    row: dict[str, Any] = {
        "event_id": env.id,
        "ce_type": env.type,
        "subject": env.subject or event.aggregate_id(),
        "time": env.time,
        "headers": env.headers(),
        "payload": json.dumps(payload, separators=(",", ":"), ensure_ascii=False),
        "kecamatan_code": kec,
        "kelurahan_code": kel,
        "received_at": uow.clock.now(),
    }
    if seq is not None:
        uow.add_rows(ReceivedEventRow, [{"seq": seq, **row}])
    else:
        received = ReceivedEventRow(**row)
        uow.session.add(received)
        await uow.session.flush()
        assert received.seq is not None
        seq = received.seq
    return KeptEvent(seq, env.id, env.type, row["subject"], kec, kel, row["received_at"])


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
    uow: UnitOfWork, config: NotificationsConfig, event: Event, received: KeptEvent, payload: dict[str, Any]
) -> None:
    event_name = type(event).event_name
    if not any(rule.applies_to(event_name, payload) for rule in config.rules):
        return  # no rule for it: no audience to look up
    audience = await _audience(uow, config, payload)
    now = received.received_at
    for plan in plan_messages(config.rules, event_name, payload, audience, config.inboxes):
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
    """Every public event a subscriber may receive (never the private topic): one batch
    handler, which also projects the registry's events (handlers/projections.py) in turn."""
    handler = BatchHandler(functools.partial(on_public_events, config))
    return {EVENT_MODELS[ce_type]: handler for ce_type in SUBSCRIBABLE}
