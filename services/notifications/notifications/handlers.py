"""One function per event or command: load, decide (domain), save through the unit of work."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col

from notifications.adapters import repository as repo
from notifications.adapters.tables import (
    BroadcastRow,
    CadreRow,
    ContactRow,
    DeliveryRow,
    OptOutRow,
    PosyanduRow,
    ReceivedEventRow,
    SubscriptionRow,
)
from notifications.config import NotificationConfig
from notifications.domain.rules import Audience, plan_messages
from notifications.domain.schedule import QUIET_CHANNELS, broadcast_slot
from notifications.domain.signing import read_unsubscribe_token
from notifications.domain.subscriptions import (
    SUBSCRIBABLE,
    literal_address,
    matches,
    normalise_event_type,
    refused_destination,
)
from sikader_shared.clock import utc
from sikader_shared.envelope import Envelope
from sikader_shared.errors import Invalid, NotFound
from sikader_shared.events import (
    CadreAssigned,
    CadreContactChanged,
    CadreDeactivated,
    CadreReactivated,
    CadreRegistered,
    CadreUpdated,
    Event,
    PosyanduRegistered,
    PosyanduUpdated,
)
from sikader_shared.uow import Actor, UnitOfWork

CADRE_RECIPIENTS = ("cadre", "head_cadre")


# --------------------------------------------------------------------------- projections


def _newer(stored: datetime | None, incoming: datetime) -> bool:
    """A re-published older event must not overwrite a newer state."""
    return stored is None or utc(incoming) >= utc(stored)


async def _project(uow: UnitOfWork, event: Event, env: Envelope) -> None:
    session = uow.session
    if isinstance(event, CadreRegistered | CadreUpdated | CadreAssigned | CadreDeactivated | CadreReactivated):
        row = await session.get(CadreRow, event.cadre_id)
        if row is not None and not _newer(row.version_at, env.time):
            return
        if row is None:
            row = CadreRow(cadre_id=event.cadre_id, roles=[], version_at=env.time)
        row.version_at = env.time
        if not isinstance(event, CadreAssigned) or event.primary:  # a secondary Posyandu moves no area
            row.kelurahan_code, row.kecamatan_code = event.kelurahan_code, event.kecamatan_code
        if isinstance(event, CadreRegistered | CadreUpdated):
            row.name, row.roles, row.status = event.name, list(event.roles), event.status
            row.posyandu_id, row.posyandu_role = event.posyandu_id, event.posyandu_role
        elif isinstance(event, CadreAssigned):
            if event.primary:
                row.posyandu_id, row.posyandu_role = event.posyandu_id, event.posyandu_role
        else:
            row.status = "inactive" if isinstance(event, CadreDeactivated) else "active"
        session.add(row)
    elif isinstance(event, PosyanduRegistered | PosyanduUpdated):
        prow = await session.get(PosyanduRow, event.posyandu_id)
        if prow is not None and not _newer(prow.version_at, env.time):
            return
        head = next((m.cadre_id for m in event.management if m.role == "ketua" and m.cadre_id), None)
        prow = prow or PosyanduRow(posyandu_id=event.posyandu_id, version_at=env.time)
        prow.name, prow.puskesmas, prow.head_cadre_id = event.name, event.puskesmas, head
        prow.kelurahan_code, prow.kecamatan_code, prow.version_at = event.kelurahan_code, event.kecamatan_code, env.time
        session.add(prow)


async def on_contact_changed(uow: UnitOfWork, event: CadreContactChanged, _env: Envelope) -> None:
    """Keep only what delivery needs (phone, email), still encrypted; never the address."""
    row = await uow.session.get(ContactRow, event.cadre_id)
    if row is not None and not _newer(row.changed_at, event.changed_at):
        return
    row = row or ContactRow(cadre_id=event.cadre_id, changed_at=event.changed_at)
    row.phone_enc, row.email_enc, row.changed_at = event.phone_enc, event.email_enc, event.changed_at
    uow.session.add(row)


# --------------------------------------------------------------------------- source events


async def _area_of(uow: UnitOfWork, event: Event, payload: dict[str, Any]) -> tuple[str | None, str | None]:
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


def _delivery(
    *,
    source_key: str,
    recipient_type: str,
    recipient_id: str,
    channel: str,
    lane: str,
    aggregate_key: str,
    seq: int,
    now: datetime,
    **extra: Any,
) -> DeliveryRow:
    return DeliveryRow(
        notification_id=str(uuid.uuid4()),
        source_key=source_key,
        recipient_type=recipient_type,
        recipient_id=recipient_id,
        channel=channel,
        lane=lane,
        aggregate_key=aggregate_key,
        seq=seq,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        **extra,
    )


async def _cadre_message_state(
    uow: UnitOfWork, cfg: NotificationConfig, recipient_type: str, recipient_id: str, channel: str, now: datetime
) -> tuple[str, str | None, datetime]:
    """Status, reason and first attempt time of a new message: skipped when the cadre
    unsubscribed from the channel or has no address for it; SMS / WhatsApp wait for the
    end of quiet hours."""
    if recipient_type in CADRE_RECIPIENTS:
        if await repo.is_opted_out(uow.session, recipient_id, channel):
            return "skipped", "unsubscribed", now
        contact = await repo.contact_of(uow.session, recipient_id)
        if contact is not None:
            field = contact.email_enc if channel == "email" else contact.phone_enc
            if field is None:
                return "skipped", f"no {'email' if channel == 'email' else 'phone'} on record", now
    when = cfg.quiet_hours.next_allowed(now) if channel in QUIET_CHANNELS else now
    return "pending", None, when


def make_event_handler(cfg: NotificationConfig) -> Any:
    async def on_event(uow: UnitOfWork, event: Event, env: Envelope) -> None:
        """Project registry state, keep the event for re-delivery, and plan its deliveries:
        a signed webhook per matching subscription, a message per rule recipient and channel."""
        await _project(uow, event, env)
        session = uow.session
        known = select(col(ReceivedEventRow.seq)).where(col(ReceivedEventRow.event_id) == env.id)
        if (await session.execute(known)).first():
            return
        payload = event.to_json_dict()
        kec, kel = await _area_of(uow, event, payload)
        now = uow.clock.now()
        received = ReceivedEventRow(
            event_id=env.id,
            ce_type=env.type,
            subject=env.subject or event.aggregate_id(),
            time=env.time,
            headers=env.headers(),
            payload=json.dumps(payload, separators=(",", ":"), ensure_ascii=False),
            kecamatan_code=kec,
            kelurahan_code=kel,
            received_at=now,
        )
        session.add(received)
        await session.flush()
        assert received.seq is not None
        aggregate = received.subject
        common = {"source_event_id": env.id, "source_event_type": env.type}

        for sub in await repo.subscriptions_for(session, env.type):
            if matches(sub.event_types, sub.kecamatan_codes, sub.kelurahan_codes, env.type, kec, kel):
                session.add(
                    _delivery(
                        source_key=env.id,
                        recipient_type="subscription",
                        recipient_id=sub.id,
                        channel="webhook",
                        lane=f"sub:{sub.id}",
                        aggregate_key=aggregate,
                        seq=received.seq,
                        now=now,
                        subscription_id=sub.id,
                        **common,
                    )
                )

        cadre_id = payload.get("cadre_id")
        posyandu_id = payload.get("posyandu_id")
        if posyandu_id is None and cadre_id:
            cadre = await session.get(CadreRow, cadre_id)
            posyandu_id = cadre.posyandu_id if cadre else None
        posyandu = await session.get(PosyanduRow, posyandu_id) if posyandu_id else None
        puskesmas = posyandu.puskesmas if posyandu else None
        audience = Audience(
            cadre_id=cadre_id,
            head_cadre_id=await repo.head_cadre_of(session, posyandu_id),
            puskesmas=puskesmas,
            puskesmas_email_known=bool(puskesmas and puskesmas in cfg.settings.puskesmas_inboxes),
        )
        for plan in plan_messages(cfg.rules, type(event).event_name, payload, audience, cfg.inboxes):
            status, reason, when = await _cadre_message_state(
                uow, cfg, plan.recipient_type, plan.recipient_id, plan.channel, now
            )
            row = _delivery(
                source_key=env.id,
                recipient_type=plan.recipient_type,
                recipient_id=plan.recipient_id,
                channel=plan.channel,
                lane=f"{plan.recipient_type}:{plan.recipient_id}:{plan.channel}",
                aggregate_key=aggregate,
                seq=received.seq,
                now=now,
                template=plan.template,
                language=plan.language,
                **common,
            )
            row.status, row.last_error, row.next_attempt_at = status, reason, when
            session.add(row)

    return on_event


# --------------------------------------------------------------------------- subscriptions


def _own(sub: SubscriptionRow | None, actor: Actor, subscription_id: str) -> SubscriptionRow:
    # Another client's subscription answers like a missing one: its existence is not shared.
    if sub is None or (sub.client_id != actor.client_id and not actor.has("admin")):
        raise NotFound(f"no subscription {subscription_id}")
    return sub


def check_destination(url: str) -> None:
    """Refuse, when registering, a webhook URL that names this machine or a non-public IP
    address; a host name is checked each time a delivery resolves it."""
    host = urlsplit(url).hostname or ""
    literal = literal_address(host)
    reason = refused_destination(host, [literal] if literal is not None else [])
    if reason is not None:
        raise Invalid(
            f"webhook URL refused: {reason}; subscribers must be reachable on the internet",
            field="url",
        )


def normalise_event_types(values: Sequence[str]) -> list[str]:
    out, unknown = [], []
    for value in values:
        ce_type = normalise_event_type(value)
        if ce_type is None:
            unknown.append(value)
        elif ce_type not in out:
            out.append(ce_type)
    if unknown:
        raise Invalid(
            f"unknown or private event types: {', '.join(unknown)}",
            field="event_types",
            known=sorted(SUBSCRIBABLE.values()),
        )
    return out


def subscription_view(sub: SubscriptionRow) -> dict[str, Any]:
    return {
        "id": sub.id,
        "client_id": sub.client_id,
        "url": sub.url,
        "description": sub.description,
        "event_types": sub.event_types,
        "kecamatan_codes": sub.kecamatan_codes,
        "kelurahan_codes": sub.kelurahan_codes,
        "status": sub.status,
        "created_at": utc(sub.created_at),
        "updated_at": utc(sub.updated_at),
    }


async def create_subscription(
    uow: UnitOfWork,
    url: str,
    secret: str,
    event_types: Sequence[str],
    kecamatan_codes: Sequence[str],
    kelurahan_codes: Sequence[str],
    description: str | None,
    allow_private_networks: bool = False,
) -> dict[str, Any]:
    if not allow_private_networks:
        check_destination(url)
    now = uow.clock.now()
    sub = SubscriptionRow(
        id=str(uuid.uuid4()),
        client_id=uow.actor.client_id,
        url=url,
        secret=secret,
        description=description,
        event_types=normalise_event_types(event_types),
        kecamatan_codes=list(dict.fromkeys(kecamatan_codes)),
        kelurahan_codes=list(dict.fromkeys(kelurahan_codes)),
        status="active",
        created_at=now,
        updated_at=now,
    )
    uow.session.add(sub)
    view = subscription_view(sub)
    uow.audit("subscription.create", "subscription", sub.id, None, {**view, "created_at": str(now), "updated_at": None})
    return view


async def set_subscription_status(uow: UnitOfWork, subscription_id: str, status: str) -> dict[str, Any]:
    sub = _own(await uow.session.get(SubscriptionRow, subscription_id), uow.actor, subscription_id)
    before = sub.status
    if before != status:
        sub.status, sub.updated_at = status, uow.clock.now()
        uow.session.add(sub)
        uow.audit(
            f"subscription.{'pause' if status == 'paused' else 'resume'}",
            "subscription",
            sub.id,
            {"status": before},
            {"status": status},
        )
    return subscription_view(sub)


async def delete_subscription(uow: UnitOfWork, subscription_id: str) -> dict[str, Any]:
    """Remove the subscription; its pending deliveries are skipped."""
    sub = _own(await uow.session.get(SubscriptionRow, subscription_id), uow.actor, subscription_id)
    pending: Iterable[DeliveryRow] = (
        await uow.session.execute(
            select(DeliveryRow).where(col(DeliveryRow.subscription_id) == sub.id, col(DeliveryRow.status) == "pending")
        )
    ).scalars()
    skipped = 0
    for row in pending:
        row.status, row.last_error = "skipped", "subscription deleted"
        uow.session.add(row)
        skipped += 1
    await uow.session.delete(sub)
    uow.audit("subscription.delete", "subscription", sub.id, {"status": sub.status}, None)
    return {"id": sub.id, "deleted": True, "pending_skipped": skipped}


async def get_subscription(uow: UnitOfWork, subscription_id: str) -> SubscriptionRow:
    return _own(await uow.session.get(SubscriptionRow, subscription_id), uow.actor, subscription_id)


async def redeliver(
    uow: UnitOfWork, subscription_id: str, since: datetime, until: datetime | None, event_types: Sequence[str]
) -> dict[str, Any]:
    """Queue the kept events from `since` (event time) again for this subscription, in their
    original order. A re-delivery is a new delivery (same ce-id: receivers deduplicate)."""
    sub = _own(await uow.session.get(SubscriptionRow, subscription_id), uow.actor, subscription_id)
    types = normalise_event_types(event_types) if event_types else list(sub.event_types)
    types = [t for t in types if t in sub.event_types]
    query = select(ReceivedEventRow).where(
        col(ReceivedEventRow.time) >= since, col(ReceivedEventRow.ce_type).in_(types or [""])
    )
    if until is not None:
        query = query.where(col(ReceivedEventRow.time) < until)
    replay_id = str(uuid.uuid4())
    now = uow.clock.now()
    queued = 0
    received: Iterable[ReceivedEventRow] = (
        await uow.session.execute(query.order_by(col(ReceivedEventRow.seq)))
    ).scalars()
    for ev in received:
        if not matches(
            sub.event_types, sub.kecamatan_codes, sub.kelurahan_codes, ev.ce_type, ev.kecamatan_code, ev.kelurahan_code
        ):
            continue
        assert ev.seq is not None
        uow.session.add(
            _delivery(
                source_key=ev.event_id,
                recipient_type="subscription",
                recipient_id=sub.id,
                channel="webhook",
                lane=f"sub:{sub.id}",
                aggregate_key=ev.subject,
                seq=ev.seq,
                now=now,
                replay_id=replay_id,
                subscription_id=sub.id,
                source_event_id=ev.event_id,
                source_event_type=ev.ce_type,
            )
        )
        queued += 1
    uow.audit(
        "subscription.redeliver",
        "subscription",
        sub.id,
        None,
        {"replay_id": replay_id, "since": since.isoformat(), "queued": queued},
    )
    return {"subscription_id": sub.id, "replay_id": replay_id, "since": since, "until": until, "queued": queued}


# --------------------------------------------------------------------------- unsubscribe


async def consent_state(session: Any, cfg: NotificationConfig, token: str) -> tuple[str, str, bool]:
    """(cadre, channel, opted out?) for a signed unsubscribe token; changes nothing."""
    parsed = read_unsubscribe_token(cfg.unsubscribe_secret, token)
    if parsed is None:
        raise NotFound("this unsubscribe link is not valid")
    cadre_id, channel = parsed
    row = await session.get(OptOutRow, (cadre_id, channel))
    return cadre_id, channel, row is not None


async def resubscribe(uow: UnitOfWork, cfg: NotificationConfig, token: str) -> tuple[str, str]:
    """Undo an opt-out named by a signed token: later messages on that channel go out again."""
    parsed = read_unsubscribe_token(cfg.unsubscribe_secret, token)
    if parsed is None:
        raise NotFound("this unsubscribe link is not valid")
    cadre_id, channel = parsed
    row = await uow.session.get(OptOutRow, (cadre_id, channel))
    if row is not None:
        await uow.session.delete(row)
        uow.audit("cadre.resubscribe", "cadre", cadre_id, {"channel": channel}, None)
    return cadre_id, channel


async def unsubscribe(uow: UnitOfWork, cfg: NotificationConfig, token: str) -> tuple[str, str]:
    """Record the opt-out named by a signed token; pending messages on that channel are skipped."""
    parsed = read_unsubscribe_token(cfg.unsubscribe_secret, token)
    if parsed is None:
        raise NotFound("this unsubscribe link is not valid")
    cadre_id, channel = parsed
    # Insert-if-absent in one statement: two clicks at once (or a mail scanner fetching the
    # link as the cadre clicks it) must both succeed, not race into a duplicate key (500).
    insert = pg_insert if uow.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    added = await uow.session.execute(
        insert(OptOutRow.__table__)  # type: ignore[attr-defined]
        .values(cadre_id=cadre_id, channel=channel, at=uow.clock.now())
        .on_conflict_do_nothing()
    )
    if getattr(added, "rowcount", 0):
        uow.audit("cadre.unsubscribe", "cadre", cadre_id, None, {"channel": channel})
    pending: Iterable[DeliveryRow] = (
        await uow.session.execute(
            select(DeliveryRow).where(
                col(DeliveryRow.recipient_type).in_(CADRE_RECIPIENTS),
                col(DeliveryRow.recipient_id) == cadre_id,
                col(DeliveryRow.channel) == channel,
                col(DeliveryRow.status) == "pending",
            )
        )
    ).scalars()
    for row in pending:
        row.status, row.last_error = "skipped", "unsubscribed"
        uow.session.add(row)
    return cadre_id, channel


# --------------------------------------------------------------------------- broadcasts


async def start_broadcast(
    uow: UnitOfWork,
    cfg: NotificationConfig,
    title: str,
    message: str,
    channels: Sequence[str],
    kecamatan_codes: Sequence[str],
    kelurahan_codes: Sequence[str],
    roles: Sequence[str],
    rate_per_minute: int | None,
) -> dict[str, Any]:
    """Address every active cadre in the area with one of the roles (a role matches the
    cadre's roles or role at the Posyandu, e.g. 'ketua'), paced at `rate_per_minute`."""
    rate = rate_per_minute or cfg.settings.broadcast_default_rate_per_minute
    if rate > cfg.settings.broadcast_max_rate_per_minute:
        raise Invalid(
            f"rate_per_minute may be at most {cfg.settings.broadcast_max_rate_per_minute}", field="rate_per_minute"
        )
    query = select(CadreRow).where(col(CadreRow.status) == "active")
    if kecamatan_codes or kelurahan_codes:
        query = query.where(
            col(CadreRow.kecamatan_code).in_(list(kecamatan_codes))
            | col(CadreRow.kelurahan_code).in_(list(kelurahan_codes))
        )
    matching: Iterable[CadreRow] = (await uow.session.execute(query.order_by(col(CadreRow.cadre_id)))).scalars()
    cadres = [c for c in matching if not roles or set(roles) & ({*c.roles, c.posyandu_role} - {None})]
    now = uow.clock.now()
    broadcast = BroadcastRow(
        id=str(uuid.uuid4()),
        client_id=uow.actor.client_id,
        title=title,
        message=message,
        channels=list(dict.fromkeys(channels)),
        kecamatan_codes=list(kecamatan_codes),
        kelurahan_codes=list(kelurahan_codes),
        roles=list(roles),
        rate_per_minute=rate,
        recipients=len(cadres),
        status="sending",
        created_at=now,
    )
    uow.session.add(broadcast)
    index = 0
    for cadre in cadres:
        for channel in broadcast.channels:
            status, reason, when = await _cadre_message_state(uow, cfg, "cadre", cadre.cadre_id, channel, now)
            row = _delivery(
                source_key=f"broadcast:{broadcast.id}",
                recipient_type="cadre",
                recipient_id=cadre.cadre_id,
                channel=channel,
                lane=f"cadre:{cadre.cadre_id}:{channel}",
                aggregate_key=f"broadcast:{broadcast.id}",
                seq=index,
                now=now,
                broadcast_id=broadcast.id,
                template="broadcast",
            )
            row.status, row.last_error = status, reason
            if status == "pending":
                row.next_attempt_at = max(when, broadcast_slot(now, index, rate))
                index += 1
            uow.session.add(row)
    uow.audit(
        "broadcast.start",
        "broadcast",
        broadcast.id,
        None,
        {"title": title, "recipients": len(cadres), "channels": broadcast.channels},
    )
    return {"id": broadcast.id, "recipients": len(cadres), "messages": index, "status": "sending"}
