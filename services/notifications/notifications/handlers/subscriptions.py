"""Outside systems' webhook subscriptions: register, pause / resume, delete, re-deliver kept
events, and the webhook deliveries each received event plans. A subscription belongs to
one OPD client: another client's answers like a missing one."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlmodel.ext.asyncio.session import AsyncSession

from notifications.adapters import repository as repo
from notifications.adapters.tables import DeliveryRow, KeptEvent, ReceivedEventRow, SubscriptionRow
from notifications.domain.signing import new_secret, secret_from_legacy
from notifications.domain.subscriptions import (
    SUBSCRIBABLE,
    literal_address,
    matches,
    normalise_event_type,
    refused_destination,
)
from notifications.handlers.deliveries import new_delivery, new_webhook_row
from sikader_shared.clock import utc
from sikader_shared.errors import Invalid, NotFound
from sikader_shared.uow import Actor, UnitOfWork


def _own(sub: SubscriptionRow | None, actor: Actor, subscription_id: str) -> SubscriptionRow:
    # Another client's subscription answers like a missing one: its existence is not shared.
    if sub is None or (sub.client_id != actor.client_id and not actor.has("admin")):
        raise NotFound(f"no subscription {subscription_id}")
    return sub


def subscribable_event_names() -> list[str]:
    """The events an outside system may subscribe to (never the private topic's)."""
    return sorted(SUBSCRIBABLE.values())


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
            known=subscribable_event_names(),
        )
    return out


async def create_subscription(
    uow: UnitOfWork,
    url: str,
    client_secret: str | None,
    event_types: Sequence[str],
    kecamatan_codes: Sequence[str],
    kelurahan_codes: Sequence[str],
    description: str | None,
    allow_private_networks: bool = False,
) -> SubscriptionRow:
    if not allow_private_networks:
        check_destination(url)
    # A client-chosen secret (deprecated) keeps its key bytes: its whsec_ form signs, and it
    # also signs the deprecated X-Sikader-* headers, as for the subscriptions made before.
    secret = new_secret() if client_secret is None else secret_from_legacy(client_secret)
    now = uow.clock.now()
    sub = SubscriptionRow(
        id=str(uuid.uuid4()),
        client_id=uow.actor.client_id,
        url=url,
        secret=secret,
        legacy_secret=secret if client_secret is not None else None,
        description=description,
        event_types=normalise_event_types(event_types),
        kecamatan_codes=list(dict.fromkeys(kecamatan_codes)),
        kelurahan_codes=list(dict.fromkeys(kelurahan_codes)),
        status="active",
        created_at=now,
        updated_at=now,
    )
    uow.session.add(sub)
    shown = ("id", "client_id", "url", "description", "event_types", "kecamatan_codes", "kelurahan_codes", "status")
    after = {name: getattr(sub, name) for name in shown} | {"created_at": str(now), "updated_at": None}
    uow.audit("subscription.create", "subscription", sub.id, None, after)
    return sub


async def rotate_secret(uow: UnitOfWork, subscription_id: str, grace: timedelta) -> SubscriptionRow:
    """A new `whsec_` secret; the replaced one (and a client-chosen one of an older
    subscription, for the deprecated headers) keeps signing for the grace period. The answer
    is the only time the new secret is shown."""
    sub = _own(await uow.session.get(SubscriptionRow, subscription_id), uow.actor, subscription_id)
    now = uow.clock.now()
    until = now + grace
    sub.previous_secret, sub.previous_until = sub.secret, until
    sub.secret = new_secret()
    if sub.legacy_secret is not None and (sub.legacy_until is None or utc(sub.legacy_until) > until):
        sub.legacy_until = until
    sub.updated_at = now
    uow.session.add(sub)
    uow.audit("subscription.rotate_secret", "subscription", sub.id, None, {"previous_until": until.isoformat()})
    return sub


async def set_subscription_status(uow: UnitOfWork, subscription_id: str, status: str) -> SubscriptionRow:
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
    return sub


async def delete_subscription(uow: UnitOfWork, subscription_id: str) -> dict[str, Any]:
    """Remove the subscription; its pending deliveries are skipped."""
    sub = _own(await uow.session.get(SubscriptionRow, subscription_id), uow.actor, subscription_id)
    pending = await repo.pending_deliveries_of_subscription(uow.session, sub.id)
    for row in pending:
        row.status, row.last_error = "skipped", "subscription deleted"
        uow.session.add(row)
    await uow.session.delete(sub)
    uow.audit("subscription.delete", "subscription", sub.id, {"status": sub.status}, None)
    return {"id": sub.id, "deleted": True, "pending_skipped": len(pending)}


async def get_subscription(session: AsyncSession, actor: Actor, subscription_id: str) -> SubscriptionRow:
    return _own(await session.get(SubscriptionRow, subscription_id), actor, subscription_id)


def page_key(row: SubscriptionRow) -> list[str]:
    """The list's sort key of a row, as a cursor holds it."""
    return repo.created_key(row)


async def list_subscriptions(
    session: AsyncSession, actor: Actor, after: Sequence[Any] | None, limit: int
) -> list[SubscriptionRow]:
    """The caller's own subscriptions, oldest first."""
    return await repo.subscriptions_of(session, actor.client_id, after, limit)


async def subscription_deliveries(
    session: AsyncSession,
    actor: Actor,
    subscription_id: str,
    status: str | None,
    *,
    after: Sequence[Any] | None,
    offset: int,
    limit: int,
) -> list[DeliveryRow]:
    """A subscription's delivery log, oldest first."""
    sub = await get_subscription(session, actor, subscription_id)
    where = repo.DeliveryFilter(subscription_id=sub.id, status=status)
    return await repo.deliveries(session, where, after=after, offset=offset, limit=limit)


def _webhook_delivery(sub: SubscriptionRow, event: ReceivedEventRow, now: datetime, **extra: Any) -> DeliveryRow:
    assert event.seq is not None
    return new_delivery(
        source_key=event.event_id,
        recipient_type="subscription",
        recipient_id=sub.id,
        channel="webhook",
        lane=f"sub:{sub.id}",
        aggregate_key=event.subject,
        seq=event.seq,
        now=now,
        subscription_id=sub.id,
        source_event_id=event.event_id,
        source_event_type=event.ce_type,
        **extra,
    )


async def plan_webhooks(uow: UnitOfWork, event: KeptEvent) -> None:
    """A webhook delivery of a just-received event for every subscription it matches (plain
    rows for the unit of work's bulk insert: no ORM object per delivery)."""
    rows = []
    for sub in await repo.subscriptions_for(uow.session, event.ce_type):
        if matches(
            sub.event_types,
            sub.kecamatan_codes,
            sub.kelurahan_codes,
            event.ce_type,
            event.kecamatan_code,
            event.kelurahan_code,
        ):
            rows.append(new_webhook_row(sub.id, event))
    if rows:
        uow.add_rows(DeliveryRow, rows)


async def redeliver(
    uow: UnitOfWork, subscription_id: str, since: datetime, until: datetime | None, event_types: Sequence[str]
) -> dict[str, Any]:
    """Queue the kept events from `since` (event time) again for this subscription, in their
    original order. A re-delivery is a new delivery (same ce-id: receivers deduplicate)."""
    sub = _own(await uow.session.get(SubscriptionRow, subscription_id), uow.actor, subscription_id)
    types = normalise_event_types(event_types) if event_types else list(sub.event_types)
    types = [t for t in types if t in sub.event_types]
    replay_id = str(uuid.uuid4())
    now = uow.clock.now()
    queued = 0
    for ev in await repo.kept_events(uow.session, since, until, types):
        if matches(
            sub.event_types, sub.kecamatan_codes, sub.kelurahan_codes, ev.ce_type, ev.kecamatan_code, ev.kelurahan_code
        ):
            uow.session.add(_webhook_delivery(sub, ev, now, replay_id=replay_id))
            queued += 1
    uow.audit(
        "subscription.redeliver",
        "subscription",
        sub.id,
        None,
        {"replay_id": replay_id, "since": since.isoformat(), "queued": queued},
    )
    return {"subscription_id": sub.id, "replay_id": replay_id, "since": since, "until": until, "queued": queued}
